"""The serving edge: what one slow or greedy client may hold of a worker (pure ASGI, before routing).

A worker holds a bounded number of connections (granian's backpressure, `HTTP_MAX_CONNECTIONS`, see
`halolight.server`); past it, new connections wait in the kernel's accept queue. A client that opens many
connections, sends complete headers and then a body that never comes would fill them all. Two rules keep
them free:

- `ClientCap`: at most `HTTP_MAX_REQUESTS_PER_CLIENT` requests in flight per client address in this worker
  process (connections belong to one process, so a per-process count is the right one). Past it the answer is
  an immediate 429 with `Retry-After` and `Connection: close`, before any of the body is read, so the
  connection and its slot are freed at once.
- `BodyPace`: a body must keep arriving: no `HTTP_BODY_IDLE_TIMEOUT_S` without a byte, and, after that first
  grace, on average at least `HTTP_BODY_MIN_RATE_BYTES_S` (the time the app spends between two reads is not
  the client's). Otherwise 408 with `Connection: close`. The whole-body deadline of
  `halolight.middleware.RequestGuard` (`HTTP_BODY_READ_TIMEOUT_S`) still applies on top.

Both answer in the API's error shape, `{"detail": ...}`, and sit inside `RequestGuard`, so their answers carry
the same security headers as every other.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TOO_MANY = json.dumps({"detail": "Too many concurrent requests from this address"}).encode()


class ClientCap:
    """At most `limit` requests in flight per client address (0: no limit); see the module docstring."""

    def __init__(self, app: ASGIApp, limit: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = str(retry_after_s).encode()
        self.in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        count = self.in_flight.get(address, 0)
        if count >= self.limit:
            await self._refuse(send)
            return
        self.in_flight[address] = count + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.in_flight[address] - 1
            if left:
                self.in_flight[address] = left
            else:
                del self.in_flight[address]

    async def _refuse(self, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_TOO_MANY)).encode()),
            (b"retry-after", self.retry_after),
            # The body was not read: the connection cannot serve another request, and its slot is wanted.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": _TOO_MANY})


class BodyPace:
    """A request body must make progress; see the module docstring."""

    def __init__(self, app: ASGIApp, idle_timeout_s: float, min_rate_bytes_s: int = 0) -> None:
        self.app = app
        self.idle_timeout_s = idle_timeout_s
        self.min_rate_bytes_s = min_rate_bytes_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._paced(receive), send)

    def _paced(self, receive: Receive) -> Receive:
        received = 0
        waited = 0.0  # time spent in `receive`, waiting for the client
        complete = False
        idle, rate = self.idle_timeout_s, self.min_rate_bytes_s

        async def paced_receive() -> Message:
            nonlocal received, waited, complete
            if complete:  # the body is in; later receives wait for a disconnect (streams), unbounded
                return await receive()
            allowed = idle
            if rate:
                # On average `rate` bytes a second, after a first grace of `idle`: the client has had
                # `waited` seconds for `received` bytes, and earned `received / rate` more.
                allowed = min(idle, idle + received / rate - waited)
            started = time.monotonic()
            try:
                if allowed <= 0:
                    raise TimeoutError
                async with asyncio.timeout(allowed):
                    message = await receive()
            except TimeoutError:
                # Raised inside the app's body read, so FastAPI lets it through to the 408 handler.
                raise HTTPException(
                    408, "Request body is arriving too slowly", headers={"Connection": "close"}
                ) from None
            waited += time.monotonic() - started
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return paced_receive
