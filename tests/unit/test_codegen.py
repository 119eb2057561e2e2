"""The spec lint catches what the generator relies on, and the routers bind the spec's constraints."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from codegen import routers
from codegen.spec import HTTP_METHODS, SpecError, lint, load

SPEC = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load(SPEC)


def _problems(document: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        lint(document)
    return "\n".join(caught.value.problems)


def test_the_spec_is_clean_and_every_operation_is_linted(document: dict[str, Any]) -> None:
    declared = {
        (method.upper(), path, operation["operationId"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    assert {(op.method.upper(), op.path, op.operation_id) for op in lint(document)} == declared


def test_duplicate_operation_ids(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["paths"]["/api/auth/me"]["get"]["operationId"] = "login"
    assert "duplicate operationId login" in _problems(broken)


def test_broken_refs(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["paths"]["/api/auth/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Nope"
    }
    assert "broken $ref: #/components/schemas/Nope" in _problems(broken)


def test_undeclared_path_parameters(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["paths"]["/api/users/{id}/{extra}"] = broken["paths"].pop("/api/users/{id}")
    assert "path parameter {extra} is not declared" in _problems(broken)


def test_missing_error_statuses_and_bad_permissions(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    operation = broken["paths"]["/api/users"]["get"]
    del operation["responses"]["403"]
    operation["x-permission"] = "Users:View"
    problems = _problems(broken)
    assert "response 403 must be declared" in problems
    assert "x-permission 'Users:View'" in problems


def test_plain_json_operations_keep_the_plain_form(document: dict[str, Any]) -> None:
    # One JSON success status without headers: the handler returns the model, no typed response classes
    # (typed responses are for several statuses, headers and byte bodies; see tests/codegen).
    for tag in ("Users", "Roles"):
        ops = [op for op in lint(document) if op.tag == tag]
        text = routers.render_tag(document, tag, ops)
        assert "TypedResponse" not in text
        assert "to_response" not in text
        assert text.count("response_model=models.") + text.count("response_class=Response") == len(ops)


def test_routes_bind_the_spec_constraints(document: dict[str, Any]) -> None:
    ops = [op for op in lint(document) if op.tag == "Users"]
    text = routers.render_tag(document, "Users", ops)
    assert "limit: Annotated[int, Query(ge=1, le=100, description='Items per page.')] = 10" in text
    assert "id: Annotated[str, Path(max_length=64, pattern='^[A-Za-z0-9_-]{1,64}$')]" in text
    assert "Depends(authenticated('users:delete'), scope='function')" in text
