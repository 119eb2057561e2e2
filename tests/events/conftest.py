"""Streams through the real app, in process: httpx's ASGI transport waits for the whole body, so streams are
driven here by a small ASGI client that hands each chunk over as it is sent, and can stop reading (a slow
client) or leave (a disconnect)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.events import outbox
from halolight.events.hub import Hub
from tests.api.helpers import register


@dataclass
class Event:
    id: int | None
    event: str
    data: Any


@dataclass
class Stream:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    # While cleared, the app's `send` of a body chunk waits: a client that stopped reading.
    reading: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    leave: asyncio.Event = field(default_factory=asyncio.Event)
    body: bytes = b""
    buffer: str = ""
    comments: int = 0
    retry: int | None = None
    ended: bool = False

    async def next_event(self, wait_s: float = 5.0) -> Event:
        async with asyncio.timeout(wait_s):
            while True:
                if "\n\n" in self.buffer:
                    block, self.buffer = self.buffer.split("\n\n", 1)
                    fields: dict[str, str] = {}
                    for line in block.split("\n"):
                        if line.startswith(":"):
                            self.comments += 1
                            continue
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    if "retry" in fields:
                        self.retry = int(fields["retry"])
                    if "data" not in fields:
                        continue
                    event_id = int(fields["id"]) if "id" in fields else None
                    return Event(event_id, fields.get("event", "message"), json.loads(fields["data"]))
                chunk = await self.chunks.get()
                if chunk is None:
                    self.ended = True
                    raise EOFError("the stream ended")
                self.body += chunk
                self.buffer += chunk.decode()

    async def events_until_end(self, wait_s: float = 10.0) -> list[Event]:
        found = []
        while True:
            event = await self.next_event(wait_s)
            found.append(event)
            if event.event == "end":
                return found

    async def close(self) -> None:
        self.leave.set()
        if self.task is not None:
            with _suppress():
                await asyncio.wait_for(self.task, 5)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return True


OpenStream = Callable[..., Any]


async def open_on(
    app: FastAPI,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    method: str = "GET",
) -> Stream:
    """Send `GET /api/events/stream` to `app`; return once the answer's headers are in."""
    stream = Stream()
    stream.reading.set()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/api/events/stream",
        "raw_path": b"/api/events/stream",
        "query_string": urlencode(params or {}).encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *raw_headers],
        "client": ("203.0.113.10", 50000),
        "server": ("testserver", 80),
    }
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await stream.leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            stream.started.set()
        elif message["type"] == "http.response.body":
            await stream.reading.wait()
            if message.get("body"):
                await stream.chunks.put(message["body"])
            if not message.get("more_body", False):
                await stream.chunks.put(None)

    async def run() -> None:
        try:
            await app(scope, receive, send)
        finally:
            stream.started.set()
            await stream.chunks.put(None)

    stream.task = asyncio.get_running_loop().create_task(run())
    await asyncio.wait_for(stream.started.wait(), 10)
    return stream


@pytest.fixture
async def open_stream(app: FastAPI) -> AsyncIterator[OpenStream]:
    streams: list[Stream] = []

    async def open_(
        params: dict[str, Any] | None = None, headers: dict[str, str] | None = None, *, method: str = "GET"
    ) -> Stream:
        stream = await open_on(app, params, headers, method=method)
        streams.append(stream)
        return stream

    yield open_
    for stream in streams:
        await stream.close()


@pytest.fixture
def hub(app: FastAPI) -> Hub:
    hub: Hub = app.state.runtime.hub
    return hub


@dataclass
class Person:
    user_id: str
    token: str
    refresh: str
    email: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def new_person(client: httpx.AsyncClient) -> Callable[[], Any]:
    async def make() -> Person:
        body = await register(client)
        return Person(
            body["user"]["id"],
            body["accessToken"],
            body["refreshToken"],
            body["user"]["email"],
            "securePass123",
        )

    return make


@pytest.fixture
def emit_for(app: FastAPI) -> Callable[..., Any]:
    """Write and announce events for users, in a committed transaction of their own (as a request would)."""

    async def emit(user_id: str, count: int = 1, type: str = "notification", **data: Any) -> None:
        async with app.state.runtime.sessionmaker() as db:
            session: AsyncSession = db
            async with session.begin():
                for i in range(count):
                    outbox.emit(session, type, {user_id: {"n": i, **data}})
                await outbox.flush(session)

    return emit
