"""`make serve` at two workers (granian processes): an event written by one process reaches the streams held
by the other within a second, and stopping the server ends every stream cleanly."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from halolight.db.engine import libpq_url
from tests.ops.helpers import Server, free_port, serve
from tests.pg import TestServer

STREAMS = 8


@pytest.fixture(scope="module")
def two_workers(
    pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    port = free_port()
    database = pg_server.create_database("events_two_workers")
    tmp = tmp_path_factory.mktemp("events")
    env = {"WORKERS": "2", "EVENTS_STREAMS_PER_USER": "50", "METRICS_ENABLED": "true"}
    with serve(port, tmp, "--production-server", DATABASE_URL=database, **env) as server:
        server.wait_ready(port)
        server.database = libpq_url(database)  # type: ignore[attr-defined]
        yield server, f"http://127.0.0.1:{port}"


def _listeners(metrics: str) -> float:
    found = re.search(r'halolight_db_pool_connections\{pool="listen",state="open"\} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


async def _first_event(response: httpx.Response, lines: asyncio.Queue[str]) -> None:
    async for line in response.aiter_lines():
        await lines.put(line)


async def test_an_event_reaches_streams_on_both_workers_within_a_second(
    two_workers: tuple[Server, str],
) -> None:
    server, base = two_workers
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": "two@example.com", "name": "Two", "password": "securePass123"},
        )
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["user"]["id"]
        auth = {"Authorization": f"Bearer {registered.json()['accessToken']}"}
        # Streams on separate connections: granian's two processes share the socket, so both hold some.
        clients = [httpx.AsyncClient(base_url=base, timeout=10) for _ in range(STREAMS)]
        responses = []
        queues: list[asyncio.Queue[str]] = []
        readers = []
        try:
            for stream_client in clients:
                ticket = (await client.post("/api/events/tickets", headers=auth)).json()["ticket"]
                request = stream_client.build_request("GET", "/api/events/stream", params={"ticket": ticket})
                response = await stream_client.send(request, stream=True)
                assert response.status_code == 200
                responses.append(response)
                queue: asyncio.Queue[str] = asyncio.Queue()
                queues.append(queue)
                readers.append(asyncio.get_running_loop().create_task(_first_event(response, queue)))
            deadline = time.monotonic() + 20
            while _listeners((await client.get("/metrics")).text) < 2:
                # The streams landed on one process only: open more until both listen.
                assert time.monotonic() < deadline, "every stream went to one worker"
                extra = httpx.AsyncClient(base_url=base, timeout=10)
                clients.append(extra)
                request = extra.build_request("GET", "/api/events/stream", headers=auth)
                response = await extra.send(request, stream=True)
                responses.append(response)
                queue = asyncio.Queue()
                queues.append(queue)
                readers.append(asyncio.get_running_loop().create_task(_first_event(response, queue)))

            # The open streams hold no pooled connection in either worker.
            metrics = (await client.get("/metrics")).text
            held = re.findall(
                r'halolight_db_pool_connections\{pool="(sessions|reads)",state="checked_out"\} (\S+)', metrics
            )
            assert held and all(float(value) == 0 for _, value in held), metrics

            # One message, sent through whichever worker takes a new connection: its stream events reach the
            # streams of both workers (the demo admin may message anyone; a USER only their teammates).
            async with httpx.AsyncClient(base_url=base, timeout=10) as sender:
                login = await sender.post(
                    "/api/auth/login", json={"email": "admin@halolight.h7ml.cn", "password": "123456"}
                )
                assert login.status_code == 200, login.text
                admin = {"Authorization": f"Bearer {login.json()['accessToken']}"}
                sent = time.monotonic()
                message = await sender.post(
                    "/api/messages/send", json={"recipientId": user_id, "content": "你好, two"}, headers=admin
                )
                assert message.status_code == 201, message.text
            latencies = []
            for queue in queues:
                async with asyncio.timeout(1.0):
                    while await queue.get() != "event: message":
                        pass
                    line = await queue.get()
                latencies.append(time.monotonic() - sent)
                data = json.loads(line[len("data: ") :])
                assert (data["id"], data["content"]) == (message.json()["id"], "你好, two")
            assert max(latencies) < 1.0, latencies

            # Stopping the server ends every stream with `end` / `shutdown`, well before the kill timeout.
            stopping = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            for queue in queues:
                async with asyncio.timeout(8):
                    while (line := await queue.get()) != "event: end":
                        pass
                    assert json.loads((await queue.get())[len("data: ") :]) == {"reason": "shutdown"}
            assert time.monotonic() - stopping < 8
        finally:
            for reader in readers:
                reader.cancel()
            for response in responses:
                await response.aclose()
            for stream_client in clients:
                await stream_client.aclose()
