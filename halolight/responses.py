"""Typed responses: what handlers return for operations with several statuses, headers or byte bodies.

The generator writes one frozen dataclass per success status of such an operation (`<Op><status>Response`,
in `generated/routers/<tag>.py`), carrying the status, the headers the spec declares for it and the body:
`body` (a model, sent as JSON), `content` (an async iterable of bytes, streamed) or nothing (204, 304).
The handler can only set what the spec declares, and mypy checks it; `to_response` turns it into the answer.

The generated route calls `to_response` after the transaction has ended, so a streamed body starts after the
commit and its after-commit callbacks: a client never receives bytes describing data that was rolled back.
The stream itself must not use `ctx.db` (read what it needs first, or read from storage).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

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


def to_response(result: TypedResponse) -> Response:
    headers = _headers(result)
    body: Any = getattr(result, "body", None)
    if isinstance(body, BaseModel):
        # As FastAPI's response_model would: by alias; unset MISSING fields are left out by pydantic.
        payload = body.model_dump_json(by_alias=True).encode()
        return Response(payload, status_code=result.STATUS, headers=headers, media_type=JSON_MEDIA_TYPE)
    content: AsyncIterable[bytes] | None = getattr(result, "content", None)
    if content is not None:
        return StreamingResponse(
            content, status_code=result.STATUS, headers=headers, media_type=result.MEDIA_TYPE
        )
    return Response(status_code=result.STATUS, headers=headers)
