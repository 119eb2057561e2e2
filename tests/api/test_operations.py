"""The app serves exactly the operations of spec/openapi.yaml, each with the spec's security."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute

from codegen.spec import HTTP_METHODS
from generated.operations import OPERATIONS, OperationInfo
from tests.api.helpers import ADMIN, auth_headers, caller_with

SPEC = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"


def _spec_operations() -> set[tuple[str, str, str]]:
    document = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return {
        (method.upper(), path, op["operationId"])
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def _api_routes(app: FastAPI) -> list[APIRoute]:
    # FastAPI 0.16x keeps included routers as lazy wrappers; our routers are included without a prefix.
    flat: list[Any] = []
    for route in app.routes:
        included = getattr(route, "original_router", None)
        flat.extend(included.routes if included is not None else [route])
    return [r for r in flat if isinstance(r, APIRoute) and r.include_in_schema]


def test_every_operation_is_served_and_nothing_else(app: FastAPI) -> None:
    served = {
        (method, route.path, route.operation_id or "")
        for route in _api_routes(app)
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert served == _spec_operations()


def _optional_login() -> frozenset[str]:
    """The operationIds with optional login (`security: [{}, {bearerAuth: []}]`): anonymous is served.
    Not those whose anonymous callers present another credential (`x-anonymous-with`: a stream ticket in
    the query), which refuse a caller with neither."""
    document = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return frozenset(
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS and {} in op.get("security", []) and "x-anonymous-with" not in op
    )


OPTIONAL_LOGIN = _optional_login()
ANONYMOUS_REFUSED = [o for o in OPERATIONS if not o.public and o.operation_id not in OPTIONAL_LOGIN]


def test_generated_index_matches_the_spec() -> None:
    assert {(o.method, o.path, o.operation_id) for o in OPERATIONS} == _spec_operations()


def _concrete(path: str) -> str:
    """A request path for the operation: every template parameter filled with a well-formed unknown id."""
    return re.sub(r"{[^}]+}", "cunknown000000000000000000", path)


def _request_body(operation: OperationInfo) -> dict[str, Any]:
    """Keyword arguments of httpx for a body of the operation's own media type (else the guard's 415 comes
    first): an empty JSON object, a one-byte file part, or one raw byte."""
    if operation.method not in ("POST", "PUT", "PATCH"):
        return {}
    if "multipart/form-data" in operation.media_types:
        return {"files": {"file": ("a.txt", b"x", "text/plain")}}
    if "application/octet-stream" in operation.media_types:
        return {"content": b"x", "headers": {"Content-Type": "application/octet-stream"}}
    return {"json": {}}


@pytest.fixture(scope="module")
async def unprivileged(client: httpx.AsyncClient) -> dict[str, str]:
    """A live session holding no permission at all (its only role grants nothing)."""
    return await caller_with(client, await auth_headers(client, ADMIN))


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if o.public], ids=lambda o: o.operation_id)
async def test_public_operations_need_no_login(client: httpx.AsyncClient, operation: OperationInfo) -> None:
    response = await client.request(operation.method, _concrete(operation.path), **_request_body(operation))
    assert response.status_code not in (401, 403), response.text
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("operation", ANONYMOUS_REFUSED, ids=lambda o: o.operation_id)
async def test_anonymous_is_401(client: httpx.AsyncClient, operation: OperationInfo) -> None:
    response = await client.request(operation.method, _concrete(operation.path), **_request_body(operation))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if o.permission], ids=lambda o: o.operation_id)
async def test_without_the_permission_is_403_naming_it(
    client: httpx.AsyncClient, unprivileged: dict[str, str], operation: OperationInfo
) -> None:
    kwargs = _request_body(operation)
    kwargs["headers"] = {**kwargs.get("headers", {}), **unprivileged}
    response = await client.request(operation.method, _concrete(operation.path), **kwargs)
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": f"Missing permission: {operation.permission}"}


@pytest.mark.parametrize(
    "operation", [o for o in OPERATIONS if o.operation_id in OPTIONAL_LOGIN], ids=lambda o: o.operation_id
)
async def test_optional_login_serves_anonymous_callers_and_refuses_a_bad_token(
    client: httpx.AsyncClient, operation: OperationInfo
) -> None:
    path = _concrete(operation.path)  # GETs (getSharedFile): no body
    anonymous = await client.request(operation.method, path)
    assert anonymous.status_code not in (401, 403), anonymous.text
    bad = await client.request(operation.method, path, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401, bad.text
