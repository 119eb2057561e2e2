"""The app serves exactly the operations of spec/openapi.yaml, each with the spec's security."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute

from codegen.spec import HTTP_METHODS
from generated.operations import OPERATIONS, OperationInfo

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


def test_generated_index_matches_the_spec() -> None:
    assert {(o.method, o.path, o.operation_id) for o in OPERATIONS} == _spec_operations()


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if not o.public], ids=lambda o: o.operation_id)
def test_protected_routes_depend_on_authentication(app: FastAPI, operation: OperationInfo) -> None:
    route = next(r for r in _api_routes(app) if r.operation_id == operation.operation_id)
    names = {d.call.__name__ for d in route.dependant.dependencies if d.call is not None}
    assert f"authenticated_{operation.permission or 'any'}" in names
