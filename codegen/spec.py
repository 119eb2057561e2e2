"""Loading and linting the hand-written OpenAPI document.

The lint is stricter than OpenAPI validity: it accepts only what the router generator implements (so a spec
change never turns into a traceback or into silently different behaviour at generation time) and enforces
the house rules (one tag per operation, bodies and responses by `$ref`, explicit security, declared error
statuses). Every problem names the method, path and operationId, and what is not supported.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from openapi_spec_validator import validate

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")
PERMISSION = re.compile(r"^(\*|[a-z][a-z0-9-]*:(\*|[a-z][a-z0-9-]*))$")
TAG = re.compile(r"^[A-Z][A-Za-z]*$")
PATH_PARAM = re.compile(r"{([^}]+)}")
HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9][a-z0-9.+-]*$")
# `x-activity` of a mutating operation: `{action: <resource>.<verb>, target: <TargetType>}`.
ACTIVITY_ACTION = re.compile(r"^[a-z][a-zA-Z0-9_]*\.[a-z][a-zA-Z0-9_]*$")
ACTIVITY_TARGET = re.compile(r"^[A-Z][A-Za-z0-9]*$")
MUTATING_METHODS = ("post", "put", "patch", "delete")

JSON = "application/json"
MULTIPART = "multipart/form-data"
OCTET_STREAM = "application/octet-stream"
# Server-sent events: the schema may describe one event (its fields), as schemathesis checks each event.
EVENT_STREAM = "text/event-stream"
SSE_FIELDS = frozenset({"data", "event", "id", "retry"})
# Request bodies the generator can bind: JSON into a model, the other two as a streamed `Upload`.
BODY_MEDIA_TYPES = (JSON, MULTIPART, OCTET_STREAM)
# Success statuses a route can answer (through a typed response when there are several).
SUCCESS_STATUSES = ("200", "201", "202", "204", "206", "304")
NO_CONTENT_STATUSES = ("204", "304")
# Parameter string formats that bind to a Python type; any other format would silently be a plain `str`.
PARAM_FORMATS = {"date-time": "AwareDatetime", "uuid": "UUID"}
SCALAR_TYPES = ("string", "integer", "number", "boolean")
# Headers the framework or the media type sets; declaring them as parameters or response headers lies.
RESERVED_HEADERS = {"authorization", "content-type", "content-length", "accept", "transfer-encoding"}
LINK_EXPRESSION = re.compile(
    r"^\$(url|method|statusCode"
    r"|request\.(path|query|header)\.[A-Za-z0-9_-]+|request\.body(#/.*)?"
    r"|response\.header\.[A-Za-z0-9_-]+|response\.body(#/.*)?)$"
)

# Names the generated route and handler signature use themselves; a parameter (or file part) by one of these
# names would be shadowed.
RESERVED_NAMES = {"ctx", "body", "form", "fields", "request", "result", "impl", "router", "self"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

AuthMode = Literal["public", "required", "optional"]


def snake(name: str) -> str:
    """The Python name of a spec name (operationId, parameter, form field)."""
    result = _CAMEL.sub("_", name).replace("-", "_").lower()
    return f"{result}_" if keyword.iskeyword(result) else result


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
    def where(self) -> str:
        return f"{self.method.upper()} {self.path} ({self.operation_id or 'no operationId'})"

    @property
    def auth(self) -> AuthMode | None:
        """`public` ([]), `required` ([{bearerAuth: []}]), `optional` ([{}, {bearerAuth: []}]), else None."""
        security = self.raw.get("security")
        if security == []:
            return "public"
        if not isinstance(security, list):
            return None
        anonymous = [s for s in security if s == {}]
        bearer = [s for s in security if s == {"bearerAuth": []}]
        if len(bearer) == 1 and len(anonymous) + len(bearer) == len(security):
            return "optional" if len(anonymous) == 1 else "required" if not anonymous else None
        return None

    @property
    def public(self) -> bool:
        return self.auth == "public"

    @property
    def permission(self) -> str | None:
        value = self.raw.get("x-permission")
        return str(value) if value is not None else None

    @property
    def body_media_type(self) -> str | None:
        body = self.raw.get("requestBody")
        if not isinstance(body, dict):
            return None
        return next(iter(body.get("content", {})), None)

    @property
    def max_body_bytes(self) -> int | None:
        value = self.raw.get("x-max-body-bytes")
        return value if isinstance(value, int) else None

    @property
    def writes(self) -> bool:
        """`x-writes: true`: a GET that writes (a view counter), run in a read-write transaction."""
        return self.raw.get("x-writes") is True

    @property
    def mutates(self) -> bool:
        """POST, PUT, PATCH, DELETE, or a GET marked `x-writes`: each records one activity-log row."""
        return self.method in MUTATING_METHODS or self.writes

    @property
    def activity(self) -> tuple[str, str] | None:
        """(action, target type) of a valid `x-activity`; None when absent or opted out (`false`)."""
        value = self.raw.get("x-activity")
        if isinstance(value, dict) and isinstance(value.get("action"), str):
            return str(value["action"]), str(value.get("target"))
        return None

    def success_codes(self) -> list[str]:
        return [str(code) for code in self.raw.get("responses", {}) if str(code) in SUCCESS_STATUSES]


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

    broken = False
    for ref in sorted(set(_all_refs(document))):
        try:
            resolve(document, ref)
        except (KeyError, IndexError, TypeError):
            problems.append(f"broken $ref: {ref}")
            broken = True
    if broken:  # the checks below follow $refs
        raise SpecError(problems)

    ops = operations(document)
    by_id = {op.operation_id: op for op in ops}
    seen: dict[str, str] = {}
    for op in ops:
        where = op.where
        if not OPERATION_ID.match(op.operation_id):
            problems.append(f"{where}: operationId missing or not camelCase: {op.operation_id!r}")
        elif op.operation_id in seen:
            problems.append(
                f"{where}: duplicate operationId {op.operation_id} (also {seen[op.operation_id]})"
            )
        else:
            seen[op.operation_id] = f"{op.method.upper()} {op.path}"
        if len(op.raw.get("tags", [])) != 1 or not TAG.match(op.tag):
            problems.append(f"{where}: needs exactly one tag, a capitalised word")
        problems.extend(_lint_security(document, op, where))
        problems.extend(_lint_parameters(document, op, where))
        problems.extend(_lint_responses(document, op, where, by_id))
        problems.extend(_lint_body(document, op, where))
        problems.extend(_lint_conditional(op, where))
        problems.extend(_lint_activity(op, where))
    if problems:
        raise SpecError(problems)
    return ops


def _lint_security(document: dict[str, Any], op: Operation, where: str) -> list[str]:
    if "security" not in op.raw:
        return [f"{where}: security must be explicit ([] for public operations)"]
    problems = []
    if op.auth is None:
        problems.append(
            f"{where}: security {op.raw['security']!r} is not supported; use [] (public), "
            "[{bearerAuth: []}] (login required) or [{}, {bearerAuth: []}] (optional login)"
        )
    elif op.auth != "public":
        scheme = document.get("components", {}).get("securitySchemes", {}).get("bearerAuth", {})
        if scheme.get("type") != "http" or str(scheme.get("scheme", "")).lower() != "bearer":
            problems.append(f"{where}: components/securitySchemes/bearerAuth must be an http bearer scheme")
    if op.permission is not None and op.auth == "optional":
        problems.append(f"{where}: an operation with optional login cannot need a permission")
    return problems


def scalar_problem(document: dict[str, Any], schema: Any, *, bounded: bool) -> str | None:
    """Why `schema` cannot bind to a scalar Python type, or None. `bounded`: strings need maxLength."""
    if not isinstance(schema, dict):
        return "has no schema"
    if "$ref" in schema:
        target = deref(document, schema)
        if "enum" in target:
            return None
        if target.get("type") == "object" or "properties" in target:
            return "is an object, which is not supported here"
        return scalar_problem(document, target, bounded=bounded)
    for combinator in ("oneOf", "anyOf", "allOf", "not", "const"):
        if combinator in schema:
            return f"uses {combinator}, which is not supported here"
    kind = schema.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        if len(rest) != 1:
            return f"has type {kind}, which is not supported here"
        kind = rest[0]
    if kind not in SCALAR_TYPES:
        return f"has type {kind!r}, which is not supported here (supported: {', '.join(SCALAR_TYPES)})"
    if "enum" in schema:
        if kind not in ("string", "integer"):
            return "is an enum of a type other than string or integer"
        return None
    fmt = schema.get("format")
    if kind == "string" and fmt is not None:
        if fmt not in PARAM_FORMATS:
            return f"has format {fmt!r}, which is not supported here (supported: {', '.join(PARAM_FORMATS)})"
        return None
    if kind == "string" and bounded and "maxLength" not in schema:
        return "is a string without maxLength"
    return None


def _lint_parameters(document: dict[str, Any], op: Operation, where: str) -> list[str]:
    problems = []
    declared = {str(p.get("name")) for p in op.parameters if p.get("in") == "path"}
    templated = set(PATH_PARAM.findall(op.path))
    for name in sorted(templated - declared):
        problems.append(f"{where}: path parameter {{{name}}} is not declared")
    for name in sorted(declared - templated):
        problems.append(f"{where}: declared path parameter {name} is not in the path")
    defaults = {"path": "simple", "query": "form", "header": "simple"}
    for p in op.parameters:
        name, location = p.get("name"), p.get("in")
        what = f"{where}: {location} parameter {name}"
        if location not in defaults:
            problems.append(f"{what}: parameters in {location} are not supported (path, query, header)")
            continue
        if "content" in p:
            problems.append(f"{what}: `content` parameters are not supported; use `schema`")
            continue
        unsupported = [k for k in ("allowEmptyValue", "allowReserved") if p.get(k)]
        if p.get("style", defaults[location]) != defaults[location] or p.get("explode", True) is not True:
            unsupported.append("style/explode other than the default")
        if unsupported:
            problems.append(f"{what}: {', '.join(unsupported)} not supported")
        if snake(str(name)) in RESERVED_NAMES:
            problems.append(f"{what}: the name {snake(str(name))} is taken by the generated code; rename it")
        if location == "header" and str(name).lower() in RESERVED_HEADERS:
            problems.append(f"{what}: this header cannot be a parameter (the framework handles it)")
        schema = p.get("schema")
        resolved = deref(document, schema) if isinstance(schema, dict) else schema
        if isinstance(resolved, dict) and resolved.get("type") == "array":
            if location != "query":
                problems.append(f"{what}: arrays are supported in the query only")
                continue
            if "maxItems" not in resolved:
                problems.append(f"{what}: array parameter needs maxItems")
            items = resolved.get("items")
            if isinstance(items, dict) and deref(document, items).get("type") == "array":
                problems.append(f"{what}: nested arrays are not supported")
                continue
            reason = scalar_problem(document, items, bounded=True)
            if reason:
                problems.append(f"{what}: array items {reason}")
            continue
        reason = scalar_problem(document, schema, bounded=True)
        if reason:
            problems.append(f"{what} {reason}")
    return problems


def _lint_responses(
    document: dict[str, Any], op: Operation, where: str, by_id: dict[str, Operation]
) -> list[str]:
    problems = []
    responses = op.raw.get("responses", {})
    for code in responses:
        text = str(code)
        if text in SUCCESS_STATUSES or re.fullmatch(r"[45][0-9][0-9]", text):
            continue
        problems.append(
            f"{where}: response {text!r} is not supported; declare each status "
            f"(success: {', '.join(SUCCESS_STATUSES)}; errors: 4xx/5xx)"
        )
    success = op.success_codes()
    if not success:
        problems.append(f"{where}: needs a success response ({', '.join(SUCCESS_STATUSES)})")
    for code in success:
        problems.extend(_lint_success(document, op, f"{where}: response {code}", code))
    for code, response in responses.items():
        links = deref(document, response).get("links", {}) if isinstance(response, dict) else {}
        for name, link in links.items():
            problems.extend(_lint_link(document, f"{where}: response {code} link {name}", link, by_id))
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


def _lint_success(document: dict[str, Any], op: Operation, what: str, code: str) -> list[str]:
    responses = op.raw["responses"]
    response = deref(document, responses[code if code in responses else int(code)])
    if response is None:
        return []
    problems = []
    content = response.get("content") or {}
    if code in NO_CONTENT_STATUSES and content:
        problems.append(f"{what}: a {code} answer has no body; remove `content`")
    if len(content) > 1:
        problems.append(f"{what}: several media types ({', '.join(content)}) are not supported; declare one")
    for media_type, item in content.items():
        schema = (item or {}).get("schema", {})
        if media_type == JSON:
            if "$ref" not in schema:
                problems.append(f"{what}: the success response schema must be a $ref")
        elif not MEDIA_TYPE.match(media_type) or media_type.endswith("+json"):
            problems.append(
                f"{what}: media type {media_type!r} is not supported (application/json or a "
                "concrete type streamed as bytes)"
            )
        elif media_type == EVENT_STREAM and deref(document, schema).get("type") == "object":
            fields = set(deref(document, schema).get("properties") or {})
            if not fields or fields - SSE_FIELDS:
                problems.append(
                    f"{what}: a {EVENT_STREAM} schema describes one event: its properties are among "
                    f"{', '.join(sorted(SSE_FIELDS))}"
                )
        elif schema and deref(document, schema).get("type") != "string":
            problems.append(f"{what}: a {media_type} body is bytes; its schema must be a string (binary)")
    streamed = any(media_type != JSON for media_type in content)
    for name, header in (response.get("headers") or {}).items():
        header = deref(document, header)
        if name.lower() == "content-length" and streamed:
            # A streamed body's length: the handler knows it (the stored size), the client shows progress.
            if deref(document, header.get("schema", {})).get("type") != "integer":
                problems.append(f"{what}: header Content-Length must have an integer schema")
            continue
        if not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            problems.append(f"{what}: header {name} cannot be declared (the framework sets it)")
            continue
        schema = deref(document, header.get("schema", {}))
        if "content" in header or schema.get("type") not in ("string", "integer") or "format" in schema:
            problems.append(f"{what}: header {name} must have a string or integer schema without format")
    return problems


def _lint_link(document: dict[str, Any], what: str, link: Any, by_id: dict[str, Operation]) -> list[str]:
    link = deref(document, link)
    if "operationRef" in link or "operationId" not in link:
        return [f"{what}: only links by operationId are supported"]
    target = by_id.get(str(link["operationId"]))
    if target is None:
        return [f"{what}: operationId {link['operationId']} does not exist"]
    problems = []
    names = {(str(p.get("in")), str(p.get("name"))) for p in target.parameters}
    for key, value in (link.get("parameters") or {}).items():
        location, _, name = str(key).rpartition(".")
        known = (location, name) in names if location else name in {n for _, n in names}
        if not known:
            problems.append(f"{what}: {target.operation_id} has no parameter {key}")
        if isinstance(value, str) and value.startswith("$") and not LINK_EXPRESSION.match(value):
            problems.append(f"{what}: {value!r} is not a runtime expression")
    if "requestBody" in link and "requestBody" not in target.raw:
        problems.append(f"{what}: {target.operation_id} takes no request body")
    return problems


def _lint_conditional(op: Operation, where: str) -> list[str]:
    """Conditional and ranged requests declare the statuses `halolight.conditional` answers with, and
    `x-writes` marks only a GET."""
    problems = []
    declared = {str(code) for code in op.raw.get("responses", {})}
    headers = {str(p.get("name")).lower(): p for p in op.parameters if p.get("in") == "header"}
    needs: list[tuple[str, str]] = []
    if "if-match" in headers:
        needs.append(("412", "an If-Match parameter"))
        if headers["if-match"].get("required"):
            needs.append(("428", "a required If-Match parameter"))
    if "range" in headers:
        needs += [("206", "a Range parameter"), ("416", "a Range parameter")]
    if "if-none-match" in headers:
        needs.append(("304", "an If-None-Match parameter"))
    for code, why in needs:
        if code not in declared:
            problems.append(f"{where}: {why} needs response {code}")
    if "x-writes" in op.raw and (op.raw["x-writes"] is not True or op.method != "get"):
        problems.append(f"{where}: x-writes is `true` on a GET only (other methods write anyway)")
    return problems


def _lint_activity(op: Operation, where: str) -> list[str]:
    """Every mutating operation says what its activity-log row is, or opts out with a reason."""
    value = op.raw.get("x-activity")
    reason = op.raw.get("x-activity-reason")
    if not op.mutates:
        if value is not None or reason is not None:
            return [f"{where}: x-activity is for mutating operations (POST, PUT, PATCH, DELETE, x-writes)"]
        return []
    if value is None:
        return [
            f"{where}: a mutating operation needs x-activity: {{action: <resource>.<verb>, target: "
            "<TargetType>}, or x-activity: false with x-activity-reason"
        ]
    if value is False:
        if not isinstance(reason, str) or not reason.strip():
            return [f"{where}: x-activity: false needs x-activity-reason (why nothing is recorded)"]
        return []
    if reason is not None:
        return [f"{where}: x-activity-reason goes only with x-activity: false"]
    if not isinstance(value, dict) or set(value) != {"action", "target"}:
        return [f"{where}: x-activity must be {{action: <resource>.<verb>, target: <TargetType>}} or false"]
    problems = []
    if not isinstance(value["action"], str) or not ACTIVITY_ACTION.match(value["action"]):
        problems.append(f"{where}: x-activity action {value['action']!r} is not <resource>.<verb>")
    if not isinstance(value["target"], str) or not ACTIVITY_TARGET.match(value["target"]):
        problems.append(f"{where}: x-activity target {value['target']!r} is not a capitalised type name")
    return problems


def _lint_body(document: dict[str, Any], op: Operation, where: str) -> list[str]:
    body = op.raw.get("requestBody")
    limit = op.raw.get("x-max-body-bytes")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return [f"{where}: x-max-body-bytes must be a positive integer"]
    if body is not None and op.method in ("get", "head", "delete"):
        # RFC 9110 gives a body on these no meaning; batch deletes are `POST …/batch-delete`.
        return [f"{where}: a {op.method.upper()} request has no body; use POST (e.g. …/batch-delete)"]
    if body is None:
        return [f"{where}: x-max-body-bytes without a request body"] if limit is not None else []
    content = body.get("content", {})
    if len(content) != 1 or next(iter(content)) not in BODY_MEDIA_TYPES:
        return [
            f"{where}: request body media types {', '.join(content) or 'none'} are not supported; "
            f"declare exactly one of {', '.join(BODY_MEDIA_TYPES)}"
        ]
    media_type, item = next(iter(content.items()))
    schema = (item or {}).get("schema", {})
    if media_type == JSON:
        # An optional JSON body binds to `body: Model | None` (absent body → None).
        return [] if "$ref" in schema else [f"{where}: the request body schema must be a $ref"]
    problems = []
    if not body.get("required", False):
        problems.append(f"{where}: a {media_type} request body must be required")
    if limit is None:
        problems.append(f"{where}: a {media_type} body needs x-max-body-bytes (the upload size limit)")
    if media_type == OCTET_STREAM:
        resolved = deref(document, schema)
        if resolved and resolved.get("type") != "string":
            problems.append(f"{where}: an {OCTET_STREAM} body is bytes; its schema must be a string (binary)")
        return problems
    return problems + _lint_multipart(document, where, schema, item.get("encoding") or {})


def multipart_parts(document: dict[str, Any], schema: Any) -> tuple[str | None, dict[str, Any], set[str]]:
    """(the file part's name, the other parts' schemas, the required names) of a multipart body schema."""
    resolved = deref(document, schema) or {}
    properties: dict[str, Any] = resolved.get("properties") or {}
    files = [
        name
        for name, prop in properties.items()
        if deref(document, prop).get("type") == "string"
        and (deref(document, prop).get("format") == "binary" or "contentMediaType" in deref(document, prop))
    ]
    fields = {name: prop for name, prop in properties.items() if name not in files}
    return (files[0] if len(files) == 1 else None), fields, set(resolved.get("required") or [])


def _lint_multipart(document: dict[str, Any], where: str, schema: Any, encoding: dict[str, Any]) -> list[str]:
    resolved = deref(document, schema) or {}
    if resolved.get("type") != "object" or not resolved.get("properties"):
        return [f"{where}: a {MULTIPART} body schema must be an object with properties"]
    problems = []
    file_part, fields, required = multipart_parts(document, schema)
    binaries = [n for n, p in resolved["properties"].items() if deref(document, p).get("format") == "binary"]
    if file_part is None or len(binaries) > 1:
        problems.append(
            f"{where}: a {MULTIPART} body needs exactly one file part (type: string, format: binary)"
        )
    elif file_part not in required:
        problems.append(f"{where}: the file part {file_part} must be required")
    elif snake(file_part) in RESERVED_NAMES:
        problems.append(f"{where}: the file part's name {file_part} is taken by the generated code")
    for name, prop in fields.items():
        reason = scalar_problem(document, prop, bounded=True)
        if reason:
            problems.append(f"{where}: form field {name} {reason}")
    if resolved.get("additionalProperties", False) is not False:
        problems.append(f"{where}: a {MULTIPART} body schema must set additionalProperties: false")
    for name, item in encoding.items():
        if name != file_part or set(item) - {"contentType"}:
            problems.append(f"{where}: encoding is supported only as the file part's contentType")
    return problems
