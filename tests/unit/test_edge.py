"""The serving edge's two rules as plain ASGI, without a server: the per-address cap on requests in flight
(halolight/edge.py), and the pace a request body must keep (halolight/middleware.py, the guard's one wrapper
of `receive`). `tests/server/test_edge_attack.py` runs the attack they answer against the real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halolight.edge import ClientCap
from halolight.middleware import RequestGuard


def scope(address: str = "203.0.113.1", method: str = "POST") -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": "/api/auth/login",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": (address, 40000),
    }


def pace(app: ASGIApp, idle_timeout_s: float, min_rate_bytes_s: int) -> RequestGuard:
    """The guard with only the pace to keep: no size limit, a whole-body deadline out of reach."""
    return RequestGuard(
        app,
        max_body_bytes=10**9,
        body_read_timeout_s=3600,
        operations=[],
        body_idle_timeout_s=idle_timeout_s,
        body_min_rate_bytes_s=min_rate_bytes_s,
    )


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.messages if m["type"] == "http.response.start"))

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return dict(start["headers"])

    @property
    def body(self) -> Any:
        return json.loads(
            b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")
        )


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class TestClientCap:
    async def test_requests_past_the_cap_are_refused_at_once_and_others_pass(self) -> None:
        release = asyncio.Event()
        served: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await release.wait()
            served.append(scope["client"][0])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        cap = ClientCap(app, limit=3)
        held = [asyncio.create_task(cap(scope("198.51.100.7"), no_body, Recorder())) for _ in range(3)]
        await asyncio.sleep(0)
        refused = Recorder()
        # Answered without waiting for the three in flight (which wait for `release`).
        await asyncio.wait_for(cap(scope("198.51.100.7"), no_body, refused), timeout=5)
        assert refused.status == 429
        assert refused.body == {"detail": "Too many concurrent requests from this address"}
        assert refused.headers[b"retry-after"] == b"1"
        assert refused.headers[b"connection"] == b"close"
        # Another address is not affected.
        other = asyncio.create_task(cap(scope("198.51.100.8"), no_body, Recorder()))
        await asyncio.sleep(0)
        assert cap.in_flight == {"198.51.100.7": 3, "198.51.100.8": 1}
        release.set()
        await asyncio.gather(*held, other)
        assert sorted(served) == ["198.51.100.7"] * 3 + ["198.51.100.8"]
        assert cap.in_flight == {}  # nothing left behind per address
        # Once the others are done, the address is served again.
        again = Recorder()
        await cap(scope("198.51.100.7"), no_body, again)
        assert again.status == 204

    async def test_a_failing_request_gives_its_place_back(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            raise RuntimeError("a bug")

        cap = ClientCap(app, limit=1)
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await cap(scope(), no_body, Recorder())
        assert cap.in_flight == {}

    async def test_a_stream_counts_while_it_opens_and_not_once_established(self) -> None:
        opened = asyncio.Event()  # the stream's opening work (authentication, lease, replay) is done
        leave = asyncio.Event()  # the stream's client goes away

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] != "/api/events/stream":
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            await opened.wait()
            headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
            await leave.wait()
            await send({"type": "http.response.body", "body": b""})

        cap = ClientCap(app, limit=1)
        stream = asyncio.create_task(
            cap({**scope(method="GET"), "path": "/api/events/stream"}, no_body, Recorder())
        )
        await asyncio.sleep(0)
        while_opening = Recorder()
        await asyncio.wait_for(cap(scope(), no_body, while_opening), timeout=5)
        assert while_opening.status == 429  # the opening stream holds the one place
        opened.set()
        for _ in range(100):
            if not cap.in_flight:
                break
            await asyncio.sleep(0)
        assert cap.in_flight == {}  # established: it no longer counts
        for _ in range(3):  # the client's other requests are served while the stream stays open
            other = Recorder()
            await asyncio.wait_for(cap(scope(), no_body, other), timeout=5)
            assert other.status == 204
        assert not stream.done()
        leave.set()
        await stream
        assert cap.in_flight == {}  # released once, not twice

    async def test_a_refused_stream_counts_until_its_answer_ends(self) -> None:
        release = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            # A 429 (too many streams) is an ordinary answer: JSON, counted until it is sent.
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await release.wait()
            await send({"type": "http.response.body", "body": b"{}"})

        cap = ClientCap(app, limit=1)
        refused = asyncio.create_task(cap(scope(method="GET"), no_body, Recorder()))
        await asyncio.sleep(0)
        assert cap.in_flight == {"203.0.113.1": 1}
        release.set()
        await refused
        assert cap.in_flight == {}

    async def test_zero_means_no_cap(self) -> None:
        release = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await release.wait()

        cap = ClientCap(app, limit=0)
        tasks = [asyncio.create_task(cap(scope(), no_body, Recorder())) for _ in range(50)]
        await asyncio.sleep(0)
        assert not any(task.done() for task in tasks)
        release.set()
        await asyncio.gather(*tasks)


def reading_app(pause_between_reads_s: float = 0.0) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that reads the whole body (pausing between reads, as a handler writing a file would) and
    answers an HTTPException as FastAPI's error handler does."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        try:
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
                await asyncio.sleep(pause_between_reads_s)
        except HTTPException as error:
            headers = [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
            await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": json.dumps({"detail": error.detail}).encode()})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps({"bytes": len(body)}).encode()})

    return app


def trickle(chunk: bytes, every_s: float, chunks: int, first_after_s: float | None = None) -> Receive:
    """A client sending `chunks` chunks, one every `every_s` seconds."""
    sent = 0

    async def receive() -> Message:
        nonlocal sent
        await asyncio.sleep(every_s if sent or first_after_s is None else first_after_s)
        sent += 1
        return {"type": "http.request", "body": chunk, "more_body": sent < chunks}

    return receive


async def paced(guard: RequestGuard, receive: Receive, method: str = "POST") -> tuple[Recorder | None, float]:
    """Run one request: its answer, or None for the 408 of a body that is too slow; and how long it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    recorder = Recorder()
    await asyncio.wait_for(guard(scope(method=method), receive, recorder), timeout=30)
    if recorder.status == 408:
        assert recorder.body == {"detail": "Request body is arriving too slowly"}
        assert recorder.headers[b"connection"] == b"close"
        return None, loop.time() - started
    return recorder, loop.time() - started


class TestBodyPace:
    """The guard's pace rules."""

    async def test_a_body_that_stops_is_cut_after_the_idle_timeout(self) -> None:
        guard = pace(reading_app(), idle_timeout_s=0.5, min_rate_bytes_s=0)
        # One byte at once, then nothing for an hour.
        answer, took = await paced(guard, trickle(b"{", 3600, 2, first_after_s=0))
        assert answer is None
        assert 0.4 < took < 10  # the idle timeout, not the hour (generous: a loaded machine)

    async def test_a_trickle_under_the_minimum_rate_is_cut(self) -> None:
        # Every chunk arrives well within the idle timeout, but 10 bytes/s is under the 200 bytes/s required
        # after the first 1 s of grace: cut after about 1.1 s, long before the body's 100 s.
        guard = pace(reading_app(), idle_timeout_s=1.0, min_rate_bytes_s=200)
        answer, took = await paced(guard, trickle(b"x", 0.1, 1000))
        assert answer is None
        assert took < 15

    async def test_a_body_at_a_steady_rate_is_read(self) -> None:
        # 100 bytes every 0.05 s (2000 bytes/s) against a minimum of 200 bytes/s: each chunk earns 0.5 s.
        guard = pace(reading_app(), idle_timeout_s=1.0, min_rate_bytes_s=200)
        answer, _ = await paced(guard, trickle(b"x" * 100, 0.05, 30))
        assert answer is not None and answer.status == 200 and answer.body == {"bytes": 3000}

    async def test_time_the_app_spends_between_reads_is_not_the_clients(self) -> None:
        # The app pauses 0.6 s between reads (longer than the idle timeout); the client is always ready.
        guard = pace(reading_app(pause_between_reads_s=0.6), idle_timeout_s=0.3, min_rate_bytes_s=1000)
        answer, _ = await paced(guard, trickle(b"x" * 10, 0, 4))
        assert answer is not None and answer.status == 200 and answer.body == {"bytes": 40}

    async def test_requests_without_a_body_method_are_not_wrapped(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            assert receive is no_body
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        recorder = Recorder()
        await pace(app, idle_timeout_s=0.1, min_rate_bytes_s=10)(scope(method="GET"), no_body, recorder)
        assert recorder.status == 204
