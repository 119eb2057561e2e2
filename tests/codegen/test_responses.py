"""Responses: several statuses per operation, declared headers, streamed bodies sent after the commit."""

from __future__ import annotations

import importlib
from typing import Any

import httpx


def _seen() -> dict[str, Any]:
    seen: dict[str, Any] = importlib.import_module("scratch_files.handlers.files").SEEN
    return seen


CONTENT = bytes(range(100))


async def test_download_with_its_headers_sent_after_the_commit(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/f1")
    assert response.status_code == 200, response.text
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"] == '"v1"'
    assert response.headers["content-disposition"] == 'attachment; filename="f1.bin"'
    assert response.headers["x-content-type-options"] == "nosniff"  # the guard's headers still apply
    assert _seen()["committed_at_first_byte"] is True


async def test_partial_content(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/f1", headers={"Range": "bytes=10-49"})
    assert response.status_code == 206, response.text
    assert response.content == CONTENT[10:50]
    assert response.headers["content-range"] == "bytes 10-49/100"
    assert response.headers["etag"] == '"v1"'
    assert "content-disposition" not in response.headers  # not declared for 206


async def test_not_modified(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/f1", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"v1"'


async def test_errors_keep_their_json_shape(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/missing")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such file"}


async def test_a_status_with_a_header_only_and_one_with_a_body(scratch_client: httpx.AsyncClient) -> None:
    pending = await scratch_client.post("/files/pending/scan")
    assert pending.status_code == 202
    assert pending.headers["retry-after"] == "5"
    assert pending.content == b""
    done = await scratch_client.post("/files/f2/scan")
    assert done.status_code == 200
    assert done.headers["content-type"] == "application/json"
    assert done.json()["id"] == "f2"
    assert "retry-after" not in done.headers


async def test_a_streamed_text_body(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.text == "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
