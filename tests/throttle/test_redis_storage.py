"""Login throttling shared by every worker through Redis (`RATE_LIMIT_STORAGE_URL`), against a real server."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from halolight.app import create_app
from halolight.settings import Settings
from tests.api.helpers import unique_email
from tests.debian import debian_tool
from tests.ops.helpers import free_port


def _redis_server() -> str:
    return debian_tool("redis-server", "redis-server")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def workers(database_url: str, redis_url: str) -> AsyncIterator[list[FastAPI]]:
    """Two apps, as two worker processes would build them, counting in the same Redis."""
    settings = Settings(
        environment="test", bcrypt_rounds=4, auth_rate_limit="3/minute", rate_limit_storage_url=redis_url
    )
    apps = [create_app(settings, database_url), create_app(settings, database_url)]
    yield apps
    for app in apps:
        await app.state.runtime.close()


async def _login(app: FastAPI, email: str, client_ip: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/api/auth/login", json={"email": email, "password": "wrong-password-1"})


async def test_attempts_counted_by_one_worker_count_in_the_other(workers: list[FastAPI]) -> None:
    first, second = workers
    email = unique_email("throttled")
    statuses = [(await _login(first, email, "198.51.100.7")).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = await _login(second, email, "198.51.100.7")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    # Another address is not affected by this one's attempts.
    assert (await _login(second, unique_email("other"), "198.51.100.8")).status_code == 401


async def test_unreachable_redis_fails_closed(database_url: str) -> None:
    settings = Settings(
        environment="test",
        bcrypt_rounds=4,
        rate_limit_storage_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    )
    app = create_app(settings, database_url)
    try:
        response = await _login(app, unique_email("down"), "198.51.100.9")
    finally:
        await app.state.runtime.close()
    assert response.status_code == 503
    assert response.json() == {"detail": "Authentication is temporarily unavailable"}
    assert response.headers["retry-after"] == "5"


async def test_unreachable_redis_refuses_share_links_in_their_own_words(database_url: str) -> None:
    settings = Settings(
        environment="test", bcrypt_rounds=4, rate_limit_storage_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.10", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/api/files/shared/" + "A" * 43)
    finally:
        await app.state.runtime.close()
    assert response.status_code == 503
    assert response.json() == {"detail": "Opening shared links is temporarily unavailable"}
    assert response.headers["retry-after"] == "5"


def test_only_memory_or_redis_urls_are_settings() -> None:
    with pytest.raises(ValueError, match=r"RATE_LIMIT_STORAGE_URL|rate_limit_storage_url"):
        Settings(environment="test", rate_limit_storage_url="memcached://localhost:11211")
