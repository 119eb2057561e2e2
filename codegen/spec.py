"""Loading and linting the hand-written OpenAPI document.

The lint is stricter than OpenAPI validity: it enforces the house rules that the router generator relies on
(one tag per operation, bodies and responses by `$ref`, explicit security, declared error statuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")
PERMISSION = re.compile(r"^(\*|[a-z][a-z0-9-]*:(\*|[a-z][a-z0-9-]*))$")
TAG = re.compile(r"^[A-Z][A-Za-z]*$")
PATH_PARAM = re.compile(r"{([^}]+)}")


class SpecError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    tag: str
    raw: dict[str, Any]
    parameters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def public(self) -> bool:
        return self.raw.get("security") == []

    @property
    def permission(self) -> str | None:
        value = self.raw.get("x-permission")
        return str(value) if value is not None else None


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    if not isinstance(document, dict):
        raise SpecError([f"{path}: not a mapping"])
    return document


def resolve(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def deref(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(document, node["$ref"])
    return node


def _all_refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.append(ref)
        for value in node.values():
            found.extend(_all_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_all_refs(value))
    return found


def operations(document: dict[str, Any]) -> list[Operation]:
    result = []
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            params = [deref(document, p) for p in [*shared, *raw.get("parameters", [])]]
            tags = raw.get("tags") or [""]
            result.append(Operation(raw.get("operationId", ""), method, path, tags[0], raw, params))
    return result


def lint(document: dict[str, Any]) -> list[Operation]:
    """Return the operations, or raise SpecError listing every problem found."""
    problems: list[str] = []
    try:
        validate(document)
    except Exception as exc:  # the validator raises several unrelated types
        problems.append(f"not a valid OpenAPI document: {str(exc).splitlines()[0]}")

    for ref in sorted(set(_all_refs(document))):
        try:
            resolve(document, ref)
        except (KeyError, IndexError, TypeError):
            problems.append(f"broken $ref: {ref}")

    ops = operations(document)
    seen: dict[str, str] = {}
    for op in ops:
        where = f"{op.method.upper()} {op.path}"
        if not OPERATION_ID.match(op.operation_id):
            problems.append(f"{where}: operationId missing or not camelCase: {op.operation_id!r}")
        elif op.operation_id in seen:
            problems.append(
                f"{where}: duplicate operationId {op.operation_id} (also {seen[op.operation_id]})"
            )
        else:
            seen[op.operation_id] = where
        if len(op.raw.get("tags", [])) != 1 or not TAG.match(op.tag):
            problems.append(f"{where}: needs exactly one tag, a capitalised word")
        if "security" not in op.raw:
            problems.append(f"{where}: security must be explicit ([] for public operations)")
        problems.extend(_lint_parameters(op, where))
        problems.extend(_lint_responses(document, op, where))
        problems.extend(_lint_body(op, where))
    if problems:
        raise SpecError(problems)
    return ops


def _lint_parameters(op: Operation, where: str) -> list[str]:
    problems = []
    declared = {str(p.get("name")) for p in op.parameters if p.get("in") == "path"}
    templated = set(PATH_PARAM.findall(op.path))
    for name in sorted(templated - declared):
        problems.append(f"{where}: path parameter {{{name}}} is not declared")
    for name in sorted(declared - templated):
        problems.append(f"{where}: declared path parameter {name} is not in the path")
    for p in op.parameters:
        if p.get("in") not in ("path", "query", "header"):
            problems.append(f"{where}: parameter {p.get('name')} in {p.get('in')} is not supported")
        schema = p.get("schema", {})
        unbounded = "$ref" not in schema and "enum" not in schema and "maxLength" not in schema
        if schema.get("type") == "string" and unbounded:
            problems.append(f"{where}: string parameter {p.get('name')} needs maxLength")
    return problems


def _lint_responses(document: dict[str, Any], op: Operation, where: str) -> list[str]:
    problems = []
    responses = op.raw.get("responses", {})
    success = [code for code in responses if str(code).startswith("2")]
    if len(success) != 1:
        problems.append(f"{where}: needs exactly one 2xx response")
    else:
        response = deref(document, responses[success[0]])
        content = response.get("content")
        if content is not None:
            schema = content.get("application/json", {}).get("schema", {})
            if "$ref" not in schema:
                problems.append(f"{where}: the success response schema must be a $ref")
    needs = []
    if not op.public:
        needs.append("401")
    if op.permission is not None:
        if not PERMISSION.match(op.permission):
            problems.append(f"{where}: x-permission {op.permission!r} is not resource:verb, resource:* or *")
        needs.append("403")
        if op.public:
            problems.append(f"{where}: a public operation cannot need a permission")
    if op.parameters or "requestBody" in op.raw:
        needs.append("422")
    if "requestBody" in op.raw:
        needs.extend(["400", "413", "415"])
    if any(p.get("in") == "path" for p in op.parameters):
        needs.append("404")
    for code in needs:
        if code not in {str(c) for c in responses}:
            problems.append(f"{where}: response {code} must be declared")
    return problems


def _lint_body(op: Operation, where: str) -> list[str]:
    body = op.raw.get("requestBody")
    if body is None:
        return []
    content = body.get("content", {})
    if list(content) != ["application/json"]:
        return [f"{where}: request bodies must be application/json only"]
    if "$ref" not in content["application/json"].get("schema", {}):
        return [f"{where}: the request body schema must be a $ref"]
    if not body.get("required", False):
        return [f"{where}: request bodies must be required"]
    return []
