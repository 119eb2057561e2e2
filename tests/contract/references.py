"""What JSON Schema cannot say, the spec says with two extensions; these hooks let schemathesis read them.

`x-references: <Kind>` marks a body field whose ids must name existing objects of that kind (the caller may
use), and `x-must-match` a field that must agree with another one. Two hooks, the same for every operation:

- `flatmap_body` (and `fill_references`, which tests/contract/hooks.py applies to the coverage phase's cases)
  gives such fields, half of the time, values that keep the rule: ids of real rows (listed
  through the API once), a `resource` equal to the action's prefix. The success paths of createUser,
  createRole, setRolePermissions, addTeamMember… are then exercised, not only their refusals. Only values
  that already satisfy the field's schema are replaced, so negative cases stay negative.
- `filter_failure` accepts exactly the refusals of positive data that the spec documents: a 422 for a NUL
  character sent in a string (the spec's introduction), and, for the extensions, a 422 whose
  every issue is at such a field (`not_found` for references), or, for a reference that is a secret token
  (resetPassword: nothing lists them; tests/contract/hooks.py supplies a live one most of the time), the
  documented 400. Any other refusal (a 422 for a password,
  a name, a URL…) still fails the run.

Loaded by tests/contract/hooks.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]  # schemathesis' own dependency; no stubs pinned
import schemathesis
import yaml
from hypothesis import strategies as st
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

SPEC = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
REFERENCES = "x-references"
MUST_MATCH = "x-must-match"
AFTER = "x-after"  # a time that must follow another field's (the Calendar tag's description)


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return spec


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/"):
        target: Any = _spec()
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _body_properties(method: str, path: str) -> dict[str, Any]:
    operation = _spec()["paths"].get(path, {}).get(method.lower(), {})
    contents = operation.get("requestBody", {}).get("content", {})
    content = contents.get("application/json") or contents.get("multipart/form-data") or {}
    properties: dict[str, Any] = _resolve(content.get("schema", {})).get("properties", {})
    return properties


def _after_pairs(items: dict[str, Any]) -> dict[str, str]:
    """The fields of `items` in an `x-after` rule (the later one and the one it names), as `x-after`."""
    fields = {}
    for name, prop in items.items():
        if AFTER in prop:
            fields[name] = fields[prop[AFTER]] = AFTER
    return fields


@cache
def _checked_fields(method: str, path: str) -> dict[str, str]:
    """The body fields of an operation that carry `x-references`, `x-must-match` or `x-after` (or that an
    `x-after` names), with which one."""
    properties = _body_properties(method, path)
    fields = _after_pairs(properties)
    for name, prop in properties.items():
        for extension in (REFERENCES, MUST_MATCH):
            if extension in prop:
                fields[name] = extension
    return fields


@cache
def _checked_query(method: str, path: str) -> dict[str, str]:
    """The query parameters of an operation in an `x-after` rule."""
    operation = _spec()["paths"].get(path, {}).get(method.lower(), {})
    parameters = [_resolve(p) for p in operation.get("parameters", [])]
    return _after_pairs({p["name"]: p for p in parameters if p.get("in") == "query"})


def later(value: Any, hours: int = 1) -> str | None:
    """An RFC 3339 time `hours` after `value` (one), or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return (moment + timedelta(hours=hours)).isoformat() if moment.tzinfo else None
    except (ValueError, OverflowError):
        return None


# Real rows, listed once through the API as the demo administrator (who may use every one of them).
LISTS = {
    "Role": "/api/roles",
    "Permission": "/api/permissions",
    "User": "/api/users",
    "Folder": "/api/folders",  # the admin's top-level folders
    "Team": "/api/teams",  # every team: the admin holds teams:*
    "Conversation": "/api/messages/conversations",  # the admin's (the pools open them)
}


@cache
def _real_ids(kind: str) -> tuple[str, ...]:
    if kind not in LISTS:
        return ()
    base = os.environ.get("HALOLIGHT_CONTRACT_URL", "http://127.0.0.1:8000")
    login = httpx.post(
        f"{base}/api/auth/login", json={"email": "admin@halolight.h7ml.cn", "password": "123456"}, timeout=10
    )
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    listed = httpx.get(f"{base}{LISTS[kind]}", params={"limit": 100}, headers=headers, timeout=10)
    listed.raise_for_status()
    return tuple(row["id"] for row in listed.json()["data"])


ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # components/schemas/Id
# How a 422 says that a reference names nothing usable: nothing the caller may use, or the caller themself or
# the object itself where that is refused (shareDocument's userId; updateFolder's parentId: the folder itself
# or one inside it).
REFERENCE_REFUSALS = ("not_found", "self_reference")


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and ID.match(value) is not None


def _kept_rule(name: str, prop: dict[str, Any], value: Any, body: dict[str, Any]) -> Any:
    """A strategy for a value of field `name` that keeps its extension's rule, or None to leave it."""
    if REFERENCES in prop:
        ids = _real_ids(prop[REFERENCES])
        if not ids:
            return None
        if isinstance(value, list) and prop.get("type") == "array" and all(_is_id(v) for v in value):
            return st.lists(st.sampled_from(ids), min_size=len(value), max_size=len(value))
        if _is_id(value) and prop.get("type") != "array":
            return st.sampled_from(ids)
        return None
    if AFTER in prop:  # a time an hour after the one it must follow
        after = later(body.get(prop[AFTER]))
        return None if after is None or value is None else st.just(after)
    if MUST_MATCH in prop and name == "resource":  # PermissionCreate: the action's prefix
        action, pattern = body.get("action"), prop.get("pattern", "")
        if isinstance(action, str) and isinstance(value, str) and re.match(pattern, value):
            prefix = action.split(":", 1)[0]
            return st.just(prefix) if re.match(pattern, prefix) else None
    return None


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Half of the time, give the fields marked with the extensions values that keep their rules."""
    if not isinstance(body, dict) or context.operation is None:
        return st.just(body)
    properties = _body_properties(context.operation.method, context.operation.path)
    kept = {}
    for name in _checked_fields(context.operation.method, context.operation.path):
        if name in body:
            strategy = _kept_rule(name, properties[name], body[name], body)
            if strategy is not None:
                kept[name] = st.one_of(st.just(body[name]), strategy)
    if not kept:
        return st.just(body)
    return st.fixed_dictionaries(kept).map(lambda values: {**body, **values})


def fill_references(method: str, path: str, body: Any, pick: Callable[[str, int], int | None]) -> Any:
    """`body` with well-formed ids of its `x-references` fields replaced by real ones, for the cases that
    `flatmap_body` never sees (schemathesis' coverage phase). `pick(key, n)` chooses one of n real ids, or
    None to leave the value."""
    if not isinstance(body, dict):
        return body
    properties = _body_properties(method, path)
    filled = dict(body)
    for name, extension in _checked_fields(method, path).items():
        ids = _real_ids(properties[name][REFERENCES]) if extension == REFERENCES else ()
        value = body.get(name)
        if not ids or value is None:
            continue
        if isinstance(value, list) and all(_is_id(v) for v in value):
            chosen = [pick(f"{name}.{i}", len(ids)) for i in range(len(value))]
            filled[name] = [v if c is None else ids[c] for v, c in zip(value, chosen, strict=True)]
        elif _is_id(value) and (c := pick(name, len(ids))) is not None:
            filled[name] = ids[c]
    return filled


def _refused_for_a_checked_field(
    fields: dict[str, str],
    secrets: list[str],
    status: int,
    body: Any,
    sent: Any,
    query: dict[str, str] | None = None,
    sent_query: Any = None,
) -> bool:
    """A documented refusal: a 422 whose every issue is at a checked body field (or query parameter) that
    was sent."""
    query, sent_query = query or {}, sent_query if isinstance(sent_query, dict) else {}
    if status == 422 and isinstance(body, dict) and isinstance(body.get("detail"), list) and query:
        issues = body["detail"]
        if issues and all(
            len(issue.get("loc", [])) >= 2
            and issue["loc"][0] == "query"
            and issue["loc"][1] in query
            and issue["loc"][1] in sent_query
            for issue in issues
        ):
            return True
    if not isinstance(sent, dict):
        return False
    if status == 400:  # a secret reference (a reset token: nothing lists them) that names nothing: 400
        return isinstance(body, dict) and isinstance(body.get("detail"), str) and bool(secrets)
    if status != 422 or not isinstance(body, dict) or not isinstance(body.get("detail"), list):
        return False
    issues = body["detail"]
    for issue in issues:
        loc = issue.get("loc", [])
        if len(loc) < 2 or loc[0] != "body" or loc[1] not in fields or loc[1] not in sent:
            return False
        if fields[loc[1]] == REFERENCES and issue.get("type") not in REFERENCE_REFUSALS:
            return False
    return bool(issues)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _refused_for_nul(case: Any, status: int, body: Any) -> bool:
    """The spec's introduction: text with NUL (U+0000), which PostgreSQL cannot store, is refused with 422.
    JSON Schema cannot say it, so schemathesis sends NUL in "valid" strings; exactly that refusal is accepted:
    NUL was sent, and every issue of the 422 says so."""
    if status != 422 or not isinstance(body, dict) or not isinstance(body.get("detail"), list):
        return False
    sent = [case.body, case.query, case.path_parameters]
    issues = body["detail"]
    return (
        bool(issues)
        and _has_nul(sent)
        and all("must not contain NUL characters" in str(issue.get("msg", "")) for issue in issues)
    )


def _refused_cursor(case: Any, status: int, body: Any) -> bool:
    """The spec's `Cursor` parameter: a cursor that is not a `nextCursor` of that list (signed by the server)
    is refused with 422 at `query.cursor`. JSON Schema cannot say "signed", so a fuzzed one is "valid" to
    schemathesis; exactly that refusal is accepted."""
    if status != 422 or not isinstance(body, dict) or not isinstance(body.get("detail"), list):
        return False
    issues = body["detail"]
    return (
        bool(issues)
        and "cursor" in (case.query or {})
        and all(issue.get("loc") == ["query", "cursor"] for issue in issues)
    )


def _valid_multipart(case: Any) -> bool:
    """A multipart body valid by its schema once each binary part (`format: binary`) stands in as a string.
    schemathesis judges the part's bytes as a JSON string, so it labels even valid uploads negative (seen in
    the stateful phase, whose links fill `folderId` with a real folder): their 201 is right, not a failure."""
    if not str(case.media_type or "").startswith("multipart/") or not isinstance(case.body, dict):
        return False
    operation = _spec()["paths"].get(case.operation.path, {}).get(case.operation.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
    schema = _resolve(content.get("schema", {}))
    properties = schema.get("properties", {})
    body = {
        name: "bytes" if _resolve(properties.get(name, {})).get("format") == "binary" else value
        for name, value in case.body.items()
    }
    resolved = {**schema, "properties": {name: _resolve(prop) for name, prop in properties.items()}}
    return bool(jsonschema.Draft202012Validator(resolved).is_valid(body))


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a positive-data rejection that the spec documents (a NUL character, a
    cursor the server did not sign, or a field marked with one of the extensions), and a "negative" upload
    that is valid (`_valid_multipart`)."""
    if isinstance(failure, AcceptedNegativeData):
        return not _valid_multipart(case)
    if not isinstance(failure, RejectedPositiveData):
        return True
    try:
        if _refused_for_nul(case, response.status_code, response.json()):
            return False
        if _refused_cursor(case, response.status_code, response.json()):
            return False
    except ValueError:
        return True
    fields = _checked_fields(case.operation.method, case.operation.path)
    query = _checked_query(case.operation.method, case.operation.path)
    if not fields and not query:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    properties = _body_properties(case.operation.method, case.operation.path)
    secrets = [  # references sent whose kind no list operation shows: only a 400 can refuse them
        name
        for name, extension in fields.items()
        if extension == REFERENCES and properties[name][REFERENCES] not in LISTS and name in (case.body or {})
    ]
    return not _refused_for_a_checked_field(
        fields, secrets, response.status_code, body, case.body, query, case.query
    )
