"""`make spec-diff` (tools/spec-diff/spec-diff.mjs): the real wrapper and its pinned npm packages on changed
copies of spec/openapi.yaml. Breaking changes fail unless info.version was bumped accordingly; additions
pass."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sdk.helpers import ROOT, make, require_node

WRAPPER = ROOT / "tools" / "spec-diff" / "spec-diff.mjs"
Spec = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> Spec:
    require_node("make spec-diff")
    make("tools/spec-diff/node_modules/.installed")
    loaded: Spec = yaml.safe_load((ROOT / "spec" / "openapi.yaml").read_text())
    return loaded


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(WRAPPER), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def compare(tmp_path: Path, base: Spec, head: Spec) -> subprocess.CompletedProcess[str]:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    # JSON is YAML too: a head written differently goes through the whole comparison even when unchanged.
    (tmp_path / "head.yaml").write_text(json.dumps(head, indent=1))
    return run("--base-file", str(tmp_path / "base.yaml"), "--head-file", str(tmp_path / "head.yaml"))


def changed(spec: Spec, change: Callable[[Spec], object]) -> Spec:
    copied = copy.deepcopy(spec)
    change(copied)
    return copied


def schemas(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"]
    return found


def query_parameter(spec: Spec, name: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = spec["paths"]["/api/users"]["get"]["parameters"]
    return next(p for p in parameters if p.get("name") == name)


def remove_operation(spec: Spec) -> None:
    del spec["paths"]["/api/users/batch-delete"]["post"]


def remove_response_field(spec: Spec) -> None:
    del schemas(spec)["User"]["properties"]["email"]
    schemas(spec)["User"]["required"].remove("email")


def retype_response_field(spec: Spec) -> None:
    schemas(spec)["User"]["properties"]["name"] = {"type": "integer"}


def add_optional_response_field(spec: Spec) -> None:
    schemas(spec)["User"]["properties"]["nickname"] = {"type": "string", "maxLength": 50}


def add_operation(spec: Spec) -> None:
    spec["paths"]["/api/ping"] = {
        "get": {
            "tags": ["System"],
            "operationId": "ping",
            "responses": {"200": {"description": "Pong.", "content": {"application/json": {"schema": {}}}}},
        }
    }


BREAKING: dict[str, tuple[Callable[[Spec], object], str]] = {
    "removed operation": (remove_operation, "POST /api/users/batch-delete: operation removed"),
    "removed response field": (
        remove_response_field,
        "GET /api/users/{id}: response 200 (application/json): field 'email' removed",
    ),
    "retyped response field": (retype_response_field, "field 'name' retyped string -> integer"),
    "response field made nullable": (
        lambda s: schemas(s)["User"]["properties"].update(email={"type": ["string", "null"]}),
        "field 'email' retyped string -> null|string",
    ),
    "newly required request field": (
        lambda s: schemas(s)["UserCreate"]["required"].append("roleIds"),
        "POST /api/users: request body (application/json): field 'roleIds' now required",
    ),
    "retyped request field": (
        lambda s: schemas(s)["UserCreate"]["properties"].update(bio={"type": "integer"}),
        "field 'bio' retyped null|string -> integer",
    ),
    "newly required query parameter": (
        lambda s: query_parameter(s, "role").update(required=True),
        "GET /api/users: query parameter 'role' now required",
    ),
    "new required query parameter": (
        lambda s: s["paths"]["/api/users"]["get"]["parameters"].append(
            {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        "GET /api/users: new required query parameter 'tenant'",
    ),
    "narrowed query parameter": (
        lambda s: query_parameter(s, "role")["schema"].update(maxLength=10),
        "GET /api/users: query parameter 'role' accepts less than before",
    ),
}


def test_unchanged_spec_passes(spec: Spec, tmp_path: Path) -> None:
    result = compare(tmp_path, spec, spec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking changes" in result.stdout


def test_additions_pass(spec: Spec, tmp_path: Path) -> None:
    head = changed(changed(spec, add_optional_response_field), add_operation)
    head["paths"]["/api/users"]["get"]["parameters"].append(
        {"name": "team", "in": "query", "schema": {"type": "string", "maxLength": 24}}
    )
    result = compare(tmp_path, spec, head)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking changes" in result.stdout and "1 operation(s) added" in result.stdout


@pytest.mark.parametrize("kind", BREAKING)
def test_breaking_change_fails_and_is_named(spec: Spec, tmp_path: Path, kind: str) -> None:
    change, named = BREAKING[kind]
    result = compare(tmp_path, spec, changed(spec, change))
    assert result.returncode == 1, result.stdout + result.stderr
    assert named in result.stdout, result.stdout
    assert "To make this pass: set info.version in spec/openapi.yaml to 0.2.0 or later" in result.stdout


def test_removing_one_operation_of_a_path_names_only_that_one(spec: Spec, tmp_path: Path) -> None:
    result = compare(tmp_path, spec, changed(spec, lambda s: s["paths"]["/api/users/{id}"].pop("delete")))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DELETE /api/users/{id}: operation removed" in result.stdout
    assert "GET /api/users/{id}" not in result.stdout and "PATCH /api/users/{id}" not in result.stdout


def test_removing_an_optional_response_field_fails(spec: Spec, tmp_path: Path) -> None:
    result = compare(tmp_path, changed(spec, add_optional_response_field), spec)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "GET /api/users: response 200 (application/json): field 'data[].nickname' removed" in result.stdout


def test_a_recursive_schema_is_compared_too(spec: Spec, tmp_path: Path) -> None:
    """The folder tree's node holds nodes: a field it loses is found where the node is first inlined."""

    def drop_node_name(copied: Spec) -> None:
        node = schemas(copied)["FolderNode"]
        node["required"].remove("name")
        del node["properties"]["name"]

    assert compare(tmp_path, spec, spec).returncode == 0
    result = compare(tmp_path, spec, changed(spec, drop_node_name))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "GET /api/folders/tree: response 200 (application/json): field 'data[].name' removed" in result.stdout
    )


@pytest.mark.parametrize(
    ("before", "after", "passes"),
    [
        ("0.1.0", "0.2.0", True),
        ("0.1.0", "0.1.1", False),
        ("1.4.2", "2.0.0", True),
        ("1.4.2", "1.5.0", False),
    ],
)
def test_breaking_change_needs_a_version_bump(
    spec: Spec, tmp_path: Path, before: str, after: str, passes: bool
) -> None:
    base = changed(spec, lambda s: s["info"].update(version=before))
    head = changed(base, remove_operation)
    head["info"]["version"] = after
    result = compare(tmp_path, base, head)
    assert result.returncode == (0 if passes else 1), result.stdout + result.stderr
    assert "POST /api/users/batch-delete: operation removed" in result.stdout
    if not passes:
        assert f"to {'0.2.0' if before.startswith('0.') else '2.0.0'} or later" in result.stdout


def test_base_from_a_git_ref(spec: Spec, tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=spec-diff", "-c", "user.email=spec-diff@example.com"]
    (tmp_path / "spec").mkdir()
    spec_file = tmp_path / "spec" / "openapi.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "spec"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "spec"], cwd=tmp_path, check=True)

    assert run(cwd=tmp_path).returncode == 0
    spec_file.write_text(yaml.safe_dump(changed(spec, remove_operation), sort_keys=False))
    result = run(cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "breaking change(s) against main" in result.stdout

    unknown = run("--base", "no-such-ref", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "spec-diff: git ref 'no-such-ref' not found; name an existing one: make spec-diff BASE=<ref>"
    )


def test_make_target_takes_base(spec: Spec) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "spec-diff", "BASE=no-such-ref-for-spec-diff"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "git ref 'no-such-ref-for-spec-diff' not found" in result.stderr
