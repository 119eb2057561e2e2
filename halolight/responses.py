"""Typed responses: what handlers return for operations with several statuses, headers or byte bodies.

The generator writes one frozen dataclass per success status of such an operation (`<Op><status>Response`,
in `generated/routers/<tag>.py`), carrying the status, the headers the spec declares for it and the body:
`body` (a model, sent as JSON), `content` (an async iterable of bytes, streamed) or nothing (204, 304).
The handler can only set what the spec declares, and mypy checks it; `to_response` turns it into the answer.

The generated route calls `to_response` after the transaction has ended, so a streamed body starts after the
commit and its after-commit callbacks: a client never receives bytes describing data that was rolled back.
The stream itself must not use `ctx.db` (read what it needs first, or read from storage): the request's
connections have gone back to their pools before its first byte.

A streamed body with a declared `Content-Length` is sent with that length (no chunked encoding, so clients
show progress), and checked: a stream that ends short or runs long is cut, never passed off as the file.
A HEAD request gets the headers only; the stream is closed unread. A whole local file (`ByteStream.path`)
is handed to the server by path when it can send one (ASGI `http.response.pathsend`: granian does), so the
bytes never pass through Python; elsewhere it is streamed like any other body.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

JSON_MEDIA_TYPE = "application/json"


class TypedResponse:
    """Base of the generated response dataclasses. Subclasses set the class variables."""

    STATUS: ClassVar[int]
    MEDIA_TYPE: ClassVar[str | None] = None
    # Python field name → HTTP header name, only the headers the spec declares for this status.
    HEADERS: ClassVar[Mapping[str, str]] = {}


def _headers(result: TypedResponse) -> dict[str, str]:
    headers = {}
    for attribute, name in result.HEADERS.items():
        value = getattr(result, attribute)
        if value is not None:
            headers[name] = str(value)
    return headers


class LengthMismatch(Exception):
    """A streamed body did not have the length its `Content-Length` declared: the connection is cut."""


async def _exactly(content: AsyncIterable[bytes], length: int) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in content:
        sent += len(chunk)
        if sent > length:
            raise LengthMismatch(f"the body ran past its declared Content-Length {length}")
        yield chunk
    if sent != length:
        raise LengthMismatch(f"the body ended after {sent} of its declared {length} bytes")


async def _close(content: AsyncIterable[bytes]) -> None:
    close = getattr(content, "aclose", None)
    if close is not None:
        await close()


async def to_response(result: TypedResponse, *, head: bool = False) -> Response:
    headers = _headers(result)
    body: Any = getattr(result, "body", None)
    if isinstance(body, BaseModel):
        # As FastAPI's response_model would: by alias; unset MISSING fields are left out by pydantic.
        payload = body.model_dump_json(by_alias=True).encode()
        return Response(payload, status_code=result.STATUS, headers=headers, media_type=JSON_MEDIA_TYPE)
    content: AsyncIterable[bytes] | None = getattr(result, "content", None)
    if content is None:
        return Response(status_code=result.STATUS, headers=headers)
    if head:
        await _close(content)
        # Response(...) would set Content-Length: 0 for its empty body; the declared one (or none) stands.
        response = Response(status_code=result.STATUS, headers=headers, media_type=result.MEDIA_TYPE)
        if "Content-Length" not in headers:
            del response.headers["content-length"]
        return response
    length = getattr(result, "content_length", None)
    path: str | None = getattr(content, "path", None)
    if path is not None and length is not None:
        return _FileResponse(
            path, content, length, status_code=result.STATUS, headers=headers, media_type=result.MEDIA_TYPE
        )
    if length is not None:
        content = _exactly(content, length)
    return StreamingResponse(
        content, status_code=result.STATUS, headers=headers, media_type=result.MEDIA_TYPE
    )


class _FileResponse(StreamingResponse):
    """A whole local file of a declared length: by path where the server can (`http.response.pathsend`), else
    streamed and checked as any other body. The stream is closed unread (the local backend has not opened the
    file yet) before the server opens the path; a file is never rewritten under its key, so the path holds the
    same bytes (a delete between the two cuts the answer, as a delete during a stream would).

    Measured against streaming from Python in 1 MiB pieces (bench/files.py's conditions, one run, both in
    turn): no faster, and pathsend keeps the bytes out of the worker's memory."""

    def __init__(self, path: str, content: AsyncIterable[bytes], length: int, **kwargs: Any) -> None:
        super().__init__(_exactly(content, length), **kwargs)
        self._path, self._content = path, content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "http.response.pathsend" not in scope.get("extensions", {}):
            await super().__call__(scope, receive, send)
            return
        await _close(self._content)
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.pathsend", "path": self._path})
