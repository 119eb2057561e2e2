"""Pure ASGI guards that run before routing: body size, content type, and NUL in the URL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = {"POST", "PUT", "PATCH"}


async def _reply(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class RequestGuard:
    """Refuses, with the API's error shapes:

    - bodies over `max_body_bytes` (413), by Content-Length and while streaming;
    - bodies that are not JSON on JSON endpoints (415);
    - NUL characters anywhere in the path or query string (422), which PostgreSQL cannot store.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"\x00" in unquote_to_bytes(raw_path) or b"\x00" in unquote_to_bytes(
            scope.get("query_string", b"")
        ):
            issue = {"loc": ["query"], "msg": "must not contain NUL characters", "type": "value_error"}
            await _reply(send, 422, {"detail": [issue]})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] in _BODY_METHODS:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await _reply(send, 413, {"detail": "Request body is too large"})
                return
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            has_body = (length not in (None, "0")) or "transfer-encoding" in headers
            if has_body and content_type != "application/json" and not content_type.endswith("+json"):
                await _reply(send, 415, {"detail": "Request body must be application/json"})
                return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Raised inside the app's body read, so FastAPI lets it through to our error handler.
                    raise HTTPException(413, "Request body is too large")
            return message

        await self.app(scope, limited_receive, send)
