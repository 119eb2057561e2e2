"""The HTTP layer around every operation: redirects, security headers, CORS on the guard's own answers,
body read deadline, and the JSON 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from halolight.app import create_app
from halolight.context import PublicContext
from halolight.settings import Settings
from tests.api.helpers import ADMIN, bearer, login

ORIGIN = "http://localhost:3000"


async def test_trailing_slash_is_not_redirected_to_the_host_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/users/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json() == {"detail": "Not Found"}


async def test_a_header_block_over_the_limit_is_431(client: httpx.AsyncClient) -> None:
    """HTTP_MAX_HEADER_BYTES (16 KiB here) is the app's check, under any server: granian's read buffer is
    larger so that bodies arrive in large pieces."""
    fits = await client.get("/health", headers={"X-Padding": "a" * 12_000})
    assert fits.status_code == 200
    refused = await client.get("/health", headers={"X-Padding": "a" * 17_000})
    assert refused.status_code == 431
    assert refused.json() == {"detail": "Request header fields too large"}
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_token_and_personal_data_are_not_stored_by_caches(client: httpx.AsyncClient) -> None:
    tokens = await login(client, ADMIN)
    auth = bearer(tokens["accessToken"])
    responses = [
        await client.post("/api/auth/login", json={"email": ADMIN, "password": "123456"}),
        await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}),
        await client.get("/api/auth/me", headers=auth),
        await client.get("/api/users", headers=auth),
        await client.get("/api/users/nope", headers=auth),
        await client.get("/health"),
    ]
    for response in responses:
        assert response.headers["cache-control"] == "no-store", response.request.url
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
        assert response.headers.get_list("server") == ["HaloLight"]


async def test_guard_answers_carry_cors_and_security_headers(client: httpx.AsyncClient) -> None:
    cases = [
        client.post(
            "/api/auth/login", content=b"x", headers={"Content-Type": "text/plain", "Origin": ORIGIN}
        ),
        client.post(
            "/api/auth/login",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": "99999999", "Origin": ORIGIN},
        ),
        client.get("/api/users?search=%00", headers={"Origin": ORIGIN}),
    ]
    statuses = []
    for pending in cases:
        response = await pending
        statuses.append(response.status_code)
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "detail" in response.json()
    assert statuses == [415, 413, 422]


FreshApp = Callable[..., FastAPI]


@pytest.fixture
async def fresh_app(database_url: str) -> AsyncIterator[FreshApp]:
    """Apps of their own (extra routes, other settings), closed after the test."""
    built: list[FastAPI] = []

    def build(**overrides: Any) -> FastAPI:
        app = create_app(Settings(environment="test", bcrypt_rounds=4, **overrides), database_url)
        built.append(app)
        return app

    yield build
    for app in built:
        await app.state.runtime.close()


async def test_unhandled_exception_is_the_documented_json_500(fresh_app: FreshApp) -> None:
    app = fresh_app()

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/__broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/api/__broken", headers={"Origin": ORIGIN})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Internal server error"}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_body_that_never_arrives_is_408(fresh_app: FreshApp) -> None:
    app = fresh_app(http_body_read_timeout_s=0.3)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # a client that announced a body and trickles nothing
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/auth/login",
        "raw_path": b"/api/auth/login",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"50"),
        ],
        "client": ("203.0.113.99", 1234),
        "server": ("testserver", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body == b'{"detail":"Request body was not received in time"}'


async def test_database_errors_are_told_apart(fresh_app: FreshApp) -> None:
    """A statement timeout is 504; a deadlock or serialization failure is 409 with Retry-After."""
    app = fresh_app(database_statement_timeout_ms=100)
    runtime = app.state.runtime

    async def slow() -> None:
        async with runtime.sessionmaker() as db:
            await db.execute(text("SELECT pg_sleep(1)"))

    async def conflict() -> None:
        async with runtime.sessionmaker() as db:
            await db.execute(text("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END $$"))

    async def serialization() -> None:
        async with runtime.sessionmaker() as db:
            await db.execute(text("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$"))

    for path, endpoint in (
        ("/api/__slow", slow),
        ("/api/__deadlock", conflict),
        ("/api/__serial", serialization),
    ):
        app.add_api_route(path, endpoint)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        timed_out = await c.get("/api/__slow")
        deadlocked = await c.get("/api/__deadlock")
        serial = await c.get("/api/__serial")
    assert timed_out.status_code == 504, timed_out.text
    assert timed_out.json() == {"detail": "The database did not answer in time"}
    for response in (deadlocked, serial):
        assert response.status_code == 409, response.text
        assert response.headers["retry-after"] == "1"


async def test_a_lost_race_is_retried_once_then_409(app: FastAPI) -> None:
    """`ctx.run` (every generated route) retries a deadlock or serialization failure once."""
    runtime = app.state.runtime
    calls: list[int] = []

    async def handler(ctx: PublicContext, *, fail_times: int) -> int:
        calls.append(1)
        if len(calls) <= fail_times:
            await ctx.db.execute(text("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$"))
        value: int = (await ctx.db.execute(text("SELECT 7"))).scalar_one()
        return value

    async with runtime.sessionmaker() as db:
        ctx = PublicContext(db, runtime, "127.0.0.1")
        assert await ctx.run(handler, ctx, fail_times=1) == 7
    assert len(calls) == 2
    calls.clear()
    async with runtime.sessionmaker() as db:
        with pytest.raises(DBAPIError):
            ctx = PublicContext(db, runtime, "127.0.0.1")
            await ctx.run(handler, ctx, fail_times=5)
    assert len(calls) == 2


async def test_after_commit_and_after_rollback_callbacks(app: FastAPI) -> None:
    runtime = app.state.runtime
    events: list[str] = []

    async def record(name: str) -> None:
        events.append(name)

    async def failing() -> None:
        raise RuntimeError("mail server down")

    async def handler(ctx: PublicContext, *, fail: bool) -> None:
        ctx.after_commit(lambda: record("committed"))
        ctx.after_commit(failing)  # logged, never raised into the request
        ctx.after_commit(lambda: record("background"), background=True)
        ctx.after_rollback(lambda: record("rolled back"))
        if fail:
            raise ValueError("handler failed")

    async with runtime.sessionmaker() as db:
        ctx = PublicContext(db, runtime, "127.0.0.1")
        await ctx.run(handler, ctx, fail=False)
        await runtime.drain()
        assert events == ["committed", "background"]
        events.clear()
        with pytest.raises(ValueError, match="handler failed"):
            await ctx.run(handler, ctx, fail=True)
        await runtime.drain()
        assert events == ["rolled back"]
