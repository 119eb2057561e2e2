"""Responses: several statuses per operation, declared headers, streamed bodies sent after the commit."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
from starlette.responses import StreamingResponse

from halolight.responses import LengthMismatch, TypedResponse, to_response


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
    assert response.headers["content-length"] == "100"  # not chunked: clients show progress
    assert "transfer-encoding" not in response.headers
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"  # the guard's headers still apply
    assert _seen()["committed_at_first_byte"] is True


async def test_partial_content(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/f1", headers={"Range": "bytes=10-49"})
    assert response.status_code == 206, response.text
    assert response.content == CONTENT[10:50]
    assert response.headers["content-range"] == "bytes 10-49/100"
    assert response.headers["content-length"] == "40"
    assert response.headers["etag"] == '"v1"'
    assert "content-disposition" not in response.headers  # not declared for 206
    suffix = await scratch_client.get("/files/f1", headers={"Range": "bytes=-10"})
    assert (suffix.status_code, suffix.content) == (206, CONTENT[90:])
    assert suffix.headers["content-range"] == "bytes 90-99/100"


async def test_a_range_past_the_end_is_416(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/f1", headers={"Range": "bytes=100-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */100"
    assert response.json() == {"detail": "The requested range is not satisfiable"}


async def test_if_range_of_another_version_gets_the_whole_file(scratch_client: httpx.AsyncClient) -> None:
    stale = {"Range": "bytes=10-19", "If-Range": '"v0"'}
    response = await scratch_client.get("/files/f1", headers=stale)
    assert (response.status_code, response.content) == (200, CONTENT)
    fresh = await scratch_client.get("/files/f1", headers={**stale, "If-Range": '"v1"'})
    assert (fresh.status_code, fresh.content) == (206, CONTENT[10:20])


async def test_head_sends_the_headers_only(scratch_client: httpx.AsyncClient) -> None:
    _seen().pop("committed_at_first_byte", None)
    response = await scratch_client.head("/files/f1")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "100"
    assert response.headers["etag"] == '"v1"'
    assert "committed_at_first_byte" not in _seen()  # the stream was closed unread
    ranged = await scratch_client.head("/files/f1", headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.headers["content-length"]) == (206, "10")
    assert (await scratch_client.head("/files/missing")).status_code == 404


async def test_if_match_412_and_428(scratch_client: httpx.AsyncClient) -> None:
    body = {"name": "renamed"}
    ok = await scratch_client.patch("/files/f1", json=body, headers={"If-Match": '"v1"'})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"v2"'
    stale = await scratch_client.patch("/files/f1", json=body, headers={"If-Match": '"v0"'})
    assert stale.status_code == 412
    assert stale.json() == {"detail": "The resource has changed since you read it; fetch it again"}
    weak = await scratch_client.patch("/files/f1", json=body, headers={"If-Match": 'W/"v1"'})
    assert weak.status_code == 412
    missing = await scratch_client.patch("/files/f1", json=body)
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["detail"]
    # A missing If-Match is refused by the route, like any malformed request, before the handler runs.
    gone = await scratch_client.patch("/files/missing", json=body, headers={"If-Match": "*"})
    assert gone.status_code == 404


async def test_not_modified(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/files/f1", headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"v1"'
    for header in ('W/"v1"', '"v0", "v1"', "*"):  # weak comparison, lists, any
        again = await scratch_client.get("/files/f1", headers={"If-None-Match": header})
        assert again.status_code == 304, header
    changed = await scratch_client.get("/files/f1", headers={"If-None-Match": '"v0"'})
    assert changed.status_code == 200


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


async def test_a_stream_of_another_length_than_declared_is_cut() -> None:
    """Never passed off as the whole file: the server aborts the connection instead of ending the body."""

    @dataclass(frozen=True, kw_only=True)
    class Sized(TypedResponse):
        STATUS: ClassVar[int] = 200
        MEDIA_TYPE: ClassVar[str | None] = "application/octet-stream"
        HEADERS: ClassVar[dict[str, str]] = {"content_length": "Content-Length"}

        content: AsyncIterable[bytes]
        content_length: int

    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    for parts, declared in (((b"abc", b"de"), 4), ((b"ab",), 3)):
        response = await to_response(Sized(content=chunks(*parts), content_length=declared))
        assert response.headers["content-length"] == str(declared)
        assert isinstance(response, StreamingResponse)
        with pytest.raises(LengthMismatch):
            async for _ in response.body_iterator:
                pass
    exact = await to_response(Sized(content=chunks(b"ab", b"c"), content_length=3))
    assert isinstance(exact, StreamingResponse)
    assert [c async for c in exact.body_iterator] == [b"ab", b"c"]
