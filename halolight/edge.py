"""The serving edge: what one slow or greedy client may hold of a worker (pure ASGI, before routing).

A worker holds a bounded number of connections (granian's backpressure, `HTTP_MAX_CONNECTIONS`, see
`halolight.server`); past it, new connections wait in the kernel's accept queue. A client that opens many
connections, sends complete headers and then a body that never comes would fill them all. Two rules keep
them free, this module's cap and the body's pace, which `halolight.middleware.RequestGuard` keeps in the one
wrapper of `receive` that also counts the body's size:

- `ClientCap`: at most `HTTP_MAX_REQUESTS_PER_CLIENT` requests in flight per client address in this worker
  process (connections belong to one process, so a per-process count is the right one). Past it the answer is
  an immediate 429 with `Retry-After` and `Connection: close`, before any of the body is read, so the
  connection and its slot are freed at once. A live-update stream (`text/event-stream`) counts while it is
  being opened (authentication, lease, replay: the work a flood of opens would cost) and stops counting once
  its answer starts: held for minutes, it would otherwise take a browser's slot for everything else it
  does. Established streams have their own bound, `EVENTS_STREAMS_PER_USER` per user across all servers
  (the leases of halolight/events), and their connections count in `HTTP_MAX_CONNECTIONS` like any other.
- the pace: a body must keep arriving: no `HTTP_BODY_IDLE_TIMEOUT_S` without a byte, and, after that first
  grace, on average at least `HTTP_BODY_MIN_RATE_BYTES_S` (the time the app spends between two reads is not
  the client's). Otherwise 408 with `Connection: close`. A JSON body must also arrive whole within
  `HTTP_BODY_READ_TIMEOUT_S`.

Both answer in the API's error shape, `{"detail": ...}`; `ClientCap` sits inside `RequestGuard`, so its
answers carry the same security headers as every other.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_TOO_MANY = json.dumps({"detail": "Too many concurrent requests from this address"}).encode()


def _is_stream(start: Message) -> bool:
    """A successful Server-Sent Events answer (the Events tag's stream), whose body lasts as long as it."""
    if start.get("status") != 200:
        return False
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bytes(value).lower().startswith(b"text/event-stream")
    return False


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
        counted = True

        def release() -> None:
            nonlocal counted
            counted = False
            left = self.in_flight[address] - 1
            if left:
                self.in_flight[address] = left
            else:
                del self.in_flight[address]

        async def send_counting(message: Message) -> None:
            # An established stream stops counting (see the module docstring) the moment its answer starts.
            if counted and message["type"] == "http.response.start" and _is_stream(message):
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            if counted:
                release()

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
