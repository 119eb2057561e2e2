"""The request guard's per-operation rules: finding the operation before routing, and the body deadline."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from generated.operations import OPERATIONS, OperationInfo
from halolight.middleware import OperationTable, RequestGuard


def test_every_operation_of_the_spec_is_found_by_its_own_path() -> None:
    table = OperationTable(OPERATIONS)
    for op in OPERATIONS:
        path = re.sub(r"{[^}]+}", "abc", op.path)
        assert table.find(op.method, path) == op, op
    assert table.find("POST", "/api/nope") is None


def test_a_concrete_path_wins_over_a_template() -> None:
    templated = OperationInfo("updateUser", "POST", "/users/{id}", "Users", None, True)
    concrete = OperationInfo("deleteUsers", "POST", "/users/batch-delete", "Users", None, True)
    table = OperationTable([templated, concrete])
    assert table.find("POST", "/users/batch-delete") == concrete
    assert table.find("POST", "/users/u1") == templated
    assert table.find("POST", "/users/u1/more") is None


UPLOAD = OperationInfo("upload", "POST", "/upload", "X", None, True, ("application/octet-stream",), 10_000)
JSON = OperationInfo("create", "POST", "/create", "X", None, True, ("application/json",), None)


async def _slow_post(path: str, content_type: bytes) -> int:
    """Three chunks, 0.15 s apart, against a body deadline of 0.25 s."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        status = 204
        try:
            while (await receive()).get("more_body"):
                pass
        except HTTPException as exc:  # as the app's error handler answers it
            status = exc.status_code
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    pending = [b"a", b"b", b"c"]

    async def receive() -> Message:
        await asyncio.sleep(0.15)
        return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    guard = RequestGuard(app, max_body_bytes=1000, body_read_timeout_s=0.25, operations=[UPLOAD, JSON])
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", content_type), (b"transfer-encoding", b"chunked")],
    }
    await guard(scope, receive, send)
    return int(sent[0]["status"])


async def test_a_json_body_has_one_deadline_an_upload_one_per_chunk() -> None:
    assert await _slow_post("/create", b"application/json") == 408
    assert await _slow_post("/upload", b"application/octet-stream") == 204


def test_allowed_methods_follow_the_same_precedence() -> None:
    table = OperationTable(OPERATIONS)
    assert table.allowed_methods("/api/users") == ["GET", "POST"]
    assert table.allowed_methods("/api/users/batch-delete") == ["POST"]  # concrete, not /api/users/{id}
    assert table.allowed_methods("/api/users/abc") == ["DELETE", "GET", "PATCH"]
    assert table.allowed_methods("/api/nope") == []


async def test_a_method_the_path_does_not_declare_is_405_with_allow(scratch_client: Any) -> None:
    """Not 415 for its body: the method is wrong whatever the body (schemathesis ST204)."""
    for method in ("PUT", "DELETE", "POST"):
        response = await scratch_client.request(
            method, "/files/f1", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 405, (method, response.text)
        assert response.json() == {"detail": "Method Not Allowed"}
        assert response.headers["allow"] == "GET, HEAD, PATCH"  # the download answers HEAD
    # A JSON GET does not answer HEAD, and says so.
    head = await scratch_client.head("/counters/c1")
    assert head.status_code == 405
    assert head.headers["allow"] == "GET"


async def test_delete_bodies_are_checked_like_the_others(client: Any) -> None:
    """The lint gives DELETE no body; one that is sent anyway must be JSON (or nothing), like any
    operation without a body."""
    response = await client.request(
        "DELETE", "/api/users/u1", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json() == {"detail": "Request body must be application/json"}
