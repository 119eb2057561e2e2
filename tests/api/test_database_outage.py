"""A database outage, and its end, through both pools: GETs read on the psycopg read pool, POST and PATCH
write through the SQLAlchemy session. During the outage every request is a 503 with `Retry-After` within a
second (not the pools' connect or checkout timeouts, 5 and 6 s here); when the database is back the same app
answers 200 again, without a restart (halolight/db/gate.py).

The outage is a TCP proxy in front of the test PostgreSQL that this test stops (existing connections are cut,
new ones refused, as when PostgreSQL stops) and starts again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import make_url

from halolight.app import create_app
from halolight.settings import Settings
from tests.api.helpers import ADMIN, auth_headers
from tests.pg import TestServer

BOUND_S = 1.0  # generous for a loaded 2-core machine; the pools' own timeouts here are 5 s and 6 s
RECOVERY_S = 15.0  # the gate probes every second; the bound only keeps a broken recovery from hanging


class Proxy:
    """127.0.0.1:<port> → the test PostgreSQL's socket; `stop()` cuts all connections and refuses new ones."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _pipe(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.transport.abort()

        try:
            await asyncio.gather(copy(client_reader, server_writer), copy(server_reader, client_writer))
        finally:
            self._writers -= {client_writer, server_writer}


@pytest.fixture
def pg_socket(pg_server: TestServer) -> str:
    (socket_path,) = Path(str(conninfo_to_dict(pg_server.libpq_uri)["host"])).glob(".s.PGSQL.*[0-9]")
    return str(socket_path)


@pytest.fixture
async def proxy(pg_socket: str) -> AsyncIterator[Proxy]:
    proxy = Proxy(pg_socket)
    await proxy.start()
    yield proxy
    if proxy._server is not None:
        await proxy.stop()


@pytest.fixture
async def proxied_app(proxy: Proxy, database_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port, query={})
    # The defaults that made an outage slow: a 5 s connect timeout, and the read pool's 6 s checkout wait.
    app = create_app(
        settings.model_copy(update={"database_connect_timeout_s": 5}),
        url.render_as_string(hide_password=False),
    )
    yield app
    await app.state.runtime.close()


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_both_pools_answer_503_at_once_during_an_outage_and_recover(
    proxy: Proxy, proxied_app: FastAPI
) -> None:
    transport = httpx.ASGITransport(app=proxied_app, client=("203.0.113.77", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        headers = await auth_headers(c, ADMIN)
        # Both pools hold connections: the read pool's (GET) and the session pool's (POST, PATCH).
        assert (await c.get("/api/auth/me", headers=headers)).status_code == 200
        created = await c.post("/api/roles", json={"name": "OUTAGE-1", "label": "Outage"}, headers=headers)
        assert created.status_code == 201, created.text
        role = created.json()["id"]

        def requests(round_: int) -> list[Any]:
            return [
                c.get("/api/auth/me", headers=headers),  # read pool, authentication
                c.get("/api/roles", headers=headers),  # read pool, a list
                c.get("/health"),  # the session
                c.post("/api/roles", json={"name": f"OUTAGE-X{round_}", "label": "x"}, headers=headers),
                c.patch(f"/api/roles/{role}", json={"label": f"Outage {round_}"}, headers=headers),
            ]

        await proxy.stop()
        answers: list[tuple[str, int, float]] = []
        # One request at a time (the first ones meet the dead pooled connections), then all at once, over
        # more than one probe interval of the gate.
        for round_ in range(3):
            for request in requests(round_):
                response, took = await timed(request)
                answers.append(
                    (f"{response.request.method} {response.request.url.path}", response.status_code, took)
                )
                assert response.status_code == 503, response.text
                assert response.json() == {"detail": "Database temporarily unavailable"}
                assert int(response.headers["Retry-After"]) > 0
            await asyncio.sleep(0.4)
        many = await asyncio.gather(*(timed(r) for round_ in range(9, 13) for r in requests(round_)))
        assert [response.status_code for response, _ in many] == [503] * len(many)
        slowest = max(took for _, _, took in answers)
        assert slowest < BOUND_S, answers
        assert max(took for _, took in many) < BOUND_S, [took for _, took in many]
        assert proxied_app.state.runtime.gate.down

        await proxy.start()  # the database is back, on the same address
        restored = time.monotonic()
        while (me := await c.get("/api/auth/me", headers=headers)).status_code != 200:
            assert me.status_code == 503, me.text
            assert time.monotonic() - restored < RECOVERY_S, "the app did not reconnect"
            await asyncio.sleep(0.2)
        recovered_after = time.monotonic() - restored
        assert (await c.get("/api/roles", headers=headers)).status_code == 200
        assert (await c.get("/health")).status_code == 200
        created = await c.post("/api/roles", json={"name": "OUTAGE-2", "label": "Back"}, headers=headers)
        assert created.status_code == 201, created.text
        patched = await c.patch(f"/api/roles/{role}", json={"label": "Back"}, headers=headers)
        assert patched.status_code == 200, patched.text
        assert not proxied_app.state.runtime.gate.down
    print(
        f"\noutage: {len(answers) + len(many)} answers, all 503, slowest {slowest * 1000:.1f} ms one at a "
        f"time and {max(took for _, took in many) * 1000:.1f} ms {len(many)} at once; "
        f"200 again {recovered_after:.2f} s after the database returned"
    )


async def test_a_database_that_is_down_from_the_start_is_503_at_once(
    proxy: Proxy, proxied_app: FastAPI
) -> None:
    await proxy.stop()
    transport = httpx.ASGITransport(app=proxied_app, client=("203.0.113.78", 1234))
    token = proxied_app.state.runtime.tokens.issue("access", "some-user", "some-session").token
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for _ in range(2):
            me, took_me = await timed(c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}))
            login, took_login = await timed(c.post("/api/auth/login", json={"email": ADMIN, "password": "x"}))
            assert me.status_code == login.status_code == 503
            assert "Retry-After" in me.headers and "Retry-After" in login.headers
            assert took_me < BOUND_S and took_login < BOUND_S, (took_me, took_login)
