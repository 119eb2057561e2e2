"""Pure ASGI guards that run before routing.

- bodies over the operation's limit (413), by Content-Length and while streaming: `x-max-body-bytes` of the
  spec where an operation declares it (uploads), else the global `max_body_bytes`;
- bodies of a media type the operation does not declare (415): JSON for JSON operations and for operations
  without a body (DELETE included: the lint gives DELETE no body), `multipart/form-data` or
  `application/octet-stream` for uploads;
- a method the path does not declare (405 with `Allow`), before the body is looked at;
- NUL characters anywhere in the path or query string (422), which PostgreSQL cannot store;
- bodies that stall or trickle (408 with `Connection: close`): slow clients must not hold a worker's
  connection slot (the server bounds header size and header/idle time, see `halolight.server`; the
  per-address cap is `halolight.edge.ClientCap`). No wait for a chunk may exceed `body_idle_timeout_s`, and,
  after that first grace, the body must average `body_min_rate_bytes_s` (the time the app spends between two
  reads is not the client's). A JSON body must also arrive whole within `body_read_timeout_s`; an upload may
  legitimately take longer;
- headers every answer carries: `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` unless the
  handler chose a caching policy (tokens and personal data must not land in shared caches, RFC 6749 §5.1);
- any exception that escaped the app's own handlers becomes the documented JSON 500, not Starlette's
  `text/plain` page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from generated.operations import OPERATIONS, OperationInfo

_JSON = "application/json"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# `Server` is set here so that the server in front does not name itself (granian and uvicorn add theirs
# only when the application sent none): the software and its version are nobody's business.
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"server", b"HaloLight")]
_NO_STORE = (b"cache-control", b"no-store")
log = logging.getLogger("halolight")


def _with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    extra = [h for h in _ALWAYS if h[0] not in names]
    if b"cache-control" not in names:
        extra.append(_NO_STORE)
    return [*headers, *extra]


async def _reply(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class OperationTable:
    """Finds the spec operation of a request before routing: exact paths by dict, templated ones by one
    regular expression each (a concrete path wins over a templated one, as in OpenAPI)."""

    def __init__(self, operations: Sequence[OperationInfo]) -> None:
        self.exact: dict[tuple[str, str], OperationInfo] = {}
        self.templated: dict[str, list[tuple[re.Pattern[str], OperationInfo]]] = {}
        for op in operations:
            if "{" in op.path:
                pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(op.path)) + "$")
                self.templated.setdefault(op.method, []).append((pattern, op))
            else:
                self.exact[(op.method, op.path)] = op

    def find(self, method: str, path: str) -> OperationInfo | None:
        if method == "HEAD":  # downloads answer HEAD as their GET (generated routes)
            found = self.find("GET", path)
            return found if found is not None and found.head else None
        found = self.exact.get((method, path))
        if found is not None:
            return found
        return next((op for pattern, op in self.templated.get(method, ()) if pattern.match(path)), None)

    def allowed_methods(self, path: str) -> list[str]:
        """The spec's methods for `path` (the `Allow` header of a 405), with the same precedence; HEAD where
        a download's GET answers it."""
        found = [op for (_, template), op in self.exact.items() if template == path]
        if not found:
            found = [op for entries in self.templated.values() for p, op in entries if p.match(path)]
        methods = {op.method for op in found} | {"HEAD" for op in found if op.head}
        return sorted(methods)


def _accepts(media_types: Sequence[str], content_type: str) -> bool:
    if _JSON in media_types and (content_type == _JSON or content_type.endswith("+json")):
        return True
    return content_type in media_types and content_type != _JSON


def _header_bytes(scope: Scope, raw_path: bytes) -> int:
    """The request line and header block's size as sent: `name: value\r\n` per field."""
    line = len(scope["method"]) + len(raw_path) + len(scope.get("query_string", b"")) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class RequestGuard:
    """See the module docstring: the checks and headers that apply to every request."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_read_timeout_s: float = 30.0,
        operations: OperationTable | Sequence[OperationInfo] | None = None,
        *,
        body_idle_timeout_s: float = 5.0,
        body_min_rate_bytes_s: int = 0,
        max_header_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout_s = body_read_timeout_s
        self.body_idle_timeout_s = body_idle_timeout_s
        self.body_min_rate_bytes_s = body_min_rate_bytes_s
        if not isinstance(operations, OperationTable):
            operations = OperationTable(OPERATIONS if operations is None else operations)
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": _with_security_headers(list(message.get("headers", [])))}
            await send(message)

        try:
            await self._checked(scope, receive, secured_send)
        except Exception:
            if started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await _reply(secured_send, 500, {"detail": "Internal server error"})

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if self.max_header_bytes is not None and _header_bytes(scope, raw_path) > self.max_header_bytes:
            # The server's read buffer is larger than this (body chunks arrive in pieces that size): the
            # header block's bound is kept here, as granian would answer it.
            await _reply(send, 431, {"detail": "Request header fields too large"})
            return
        if b"\x00" in unquote_to_bytes(raw_path) or b"\x00" in unquote_to_bytes(
            scope.get("query_string", b"")
        ):
            issue = {"loc": ["query"], "msg": "must not contain NUL characters", "type": "value_error"}
            await _reply(send, 422, {"detail": [issue]})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit, streamed = self.max_body_bytes, False
        if scope["method"] in _BODY_METHODS:
            op = self.operations.find(scope["method"], scope["path"])
            if op is None:
                allowed = self.operations.allowed_methods(scope["path"])
                if allowed:  # the path exists, the method does not: its body is no concern of ours
                    allow = {"Allow": ", ".join(allowed)}
                    await _reply(send, 405, {"detail": "Method Not Allowed"}, allow)
                    return
            # Operations without a body (and unknown paths, which will 404) keep the JSON rule.
            media_types = (op.media_types if op is not None else ()) or (_JSON,)
            if op is not None and op.max_body_bytes is not None:
                limit = op.max_body_bytes
            streamed = _JSON not in media_types
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                await _reply(send, 413, {"detail": "Request body is too large"})
                return
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            has_body = (length not in (None, "0")) or "transfer-encoding" in headers
            if has_body and not _accepts(media_types, content_type):
                detail = f"Request body must be {' or '.join(media_types)}"
                await _reply(send, 415, {"detail": detail})
                return
        if scope["method"] not in _BODY_METHODS:  # no body to read: nothing to limit (the lint gives none)
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._limited(receive, limit, streamed), send)

    def _limited(self, receive: Receive, limit: int, streamed: bool) -> Receive:
        """The body's size limit and pace (see the module docstring), in one wrapper of `receive`."""
        received = 0
        waited = 0.0  # time spent in `receive`, waiting for the client (not the app's time between reads)
        deadline: float | None = None
        complete = False
        idle, rate = self.body_idle_timeout_s, self.body_min_rate_bytes_s

        async def limited_receive() -> Message:
            nonlocal received, waited, deadline, complete
            if complete:  # the body is in; later receives wait for a disconnect (streams), unbounded
                return await receive()
            now = time.monotonic()
            # Each wait is bounded by the idle timeout and, after that first grace, by the minimum rate: the
            # client has had `waited` seconds for `received` bytes, and earned `received / rate` more.
            allowed = min(idle, idle + received / rate - waited) if rate else idle
            # A JSON body also has one deadline for the whole body; an upload may legitimately take longer,
            # so for it that deadline bounds each chunk.
            total = False
            if streamed:
                allowed = min(allowed, self.body_read_timeout_s)
            else:
                deadline = deadline or now + self.body_read_timeout_s
                total = deadline - now < allowed
                allowed = min(allowed, deadline - now)
            try:
                if allowed <= 0:
                    raise TimeoutError
                async with asyncio.timeout(allowed):
                    message = await receive()
            except TimeoutError:
                # Raised inside the app's body read, so FastAPI lets it through to our error handler.
                detail = (
                    "Request body was not received in time"
                    if total
                    else "Request body is arriving too slowly"
                )
                raise HTTPException(408, detail, headers={"Connection": "close"}) from None
            waited += time.monotonic() - now
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, "Request body is too large")
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return limited_receive
