"""Request ids, access logs, readiness, metrics, graceful shutdown: through the real app and real servers."""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from halolight.app import create_app
from halolight.logging import JsonFormatter, RequestIdFilter, accepted_request_id, json_logs, request_id
from halolight.settings import Settings
from tests.api.helpers import ADMIN, auth_headers
from tests.api.test_production import production_settings
from tests.ops.helpers import Server, free_port, serve, shared_tmp
from tests.pg import TestServer

METRICS_TOKEN = "scrape-Token-7fQ2xLp9vR4tZ8wK"


# --- request ids -----------------------------------------------------------------------------------------


async def test_a_safe_request_id_is_kept_and_returned(client: httpx.AsyncClient) -> None:
    answer = await client.get("/health", headers={"X-Request-ID": "req-42.a:b_C"})
    assert answer.headers["x-request-id"] == "req-42.a:b_C"


@pytest.mark.parametrize("unsafe", ["", "has space", "<script>", "a" * 129, "ü-umlaut", "a\tb"])
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, unsafe: str) -> None:
    answer = await client.get("/health", headers=[(b"x-request-id", unsafe.encode("utf-8"))])
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


async def test_every_answer_has_a_request_id(client: httpx.AsyncClient) -> None:
    for answer in (await client.get("/nowhere"), await client.post("/api/auth/login", content=b"x")):
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert len({accepted_request_id(None) for _ in range(10)}) == 10


def test_json_lines_carry_the_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("halolight.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.operation_id = "getHealth"
    token = request_id.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x"
    assert line["request_id"] == "rid-1"
    assert line["operation_id"] == "getHealth"
    assert line["level"] == "INFO"
    assert "time" in line


def test_json_logs_by_default_in_production_only() -> None:
    assert json_logs(production_settings())
    assert not json_logs(Settings(_env_file=None, environment="development"))
    assert json_logs(Settings(_env_file=None, environment="development", log_format="json"))


# --- readiness ---------------------------------------------------------------------------------------------


async def _get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get(path, headers=headers)
    finally:
        await app.state.runtime.close()


async def test_ready_when_migrated(client: httpx.AsyncClient) -> None:
    answer = await client.get("/health/ready")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


async def test_not_ready_before_migrations(pg_server: TestServer, settings: Settings) -> None:
    answer = await _get(create_app(settings, pg_server.create_database("unmigrated")), "/health/ready")
    assert answer.status_code == 503
    assert answer.json()["migrations"] == []
    assert answer.headers["retry-after"] == "5"


async def test_not_ready_without_a_database(settings: Settings) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"
    answer = await _get(
        create_app(settings.model_copy(update={"database_connect_timeout_s": 1}), url), "/health/ready"
    )
    assert answer.status_code == 503
    assert answer.json()["database"] == "unreachable"


# --- metrics -----------------------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (summed over label sets that contain `labels`)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def test_metrics_need_the_token_when_one_is_set(database_url: str, settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    assert (await _get(create_app(guarded, database_url), "/metrics")).status_code == 401
    wrong = await _get(create_app(guarded, database_url), "/metrics", Authorization="Bearer nope")
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    right = await _get(create_app(guarded, database_url), "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
    assert right.status_code == 200
    assert right.headers["content-type"].startswith("text/plain")


async def test_metrics_are_off_in_production_without_a_token(database_url: str) -> None:
    app = create_app(production_settings(), database_url)
    assert (await _get(app, "/metrics")).status_code == 404


def test_production_refuses_metrics_without_a_token() -> None:
    from halolight.settings import ConfigurationError, load_settings

    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            _env_file=None,
            **{**production_settings().model_dump(), "metrics_enabled": True, "metrics_token": None},
        )
    assert "METRICS_TOKEN: required in production while METRICS_ENABLED is true" in caught.value.lines


async def test_requests_latency_pool_and_login_failures(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    await client.get("/health")
    await client.post("/api/auth/login", json={"email": "admin@halolight.h7ml.cn", "password": "wrong-one"})
    after = (await client.get("/metrics")).text
    assert _sample(after, "halolight_http_requests_total", operation="getHealth", status="200") == (
        _sample(before, "halolight_http_requests_total", operation="getHealth", status="200") + 1
    )
    assert (
        _sample(after, "halolight_http_request_duration_seconds_count", operation="login", status="401") >= 1
    )
    assert (
        _sample(after, "halolight_login_failures_total")
        == _sample(before, "halolight_login_failures_total") + 1
    )
    assert "halolight_db_pool_connections" in after
    assert _sample(after, "halolight_db_pool_connections", pool="sessions", state="open") >= 1
    await client.get("/api/auth/me", headers=await auth_headers(client, ADMIN))  # a GET: the read pool
    reads = (await client.get("/metrics")).text
    assert _sample(reads, "halolight_db_pool_connections", pool="reads", state="open") >= 1
    # Between requests no connection is checked out, of either pool.
    assert _sample(reads, "halolight_db_pool_connections", state="checked_out") == 0
    assert 'operation="unknown"' not in after or "/nowhere" not in after  # paths are never labels


# --- real servers -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tmp() -> Iterator[Path]:
    path = shared_tmp("halolight-ops-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_granian_workers_share_their_metrics(pg_server: TestServer, tmp: Path) -> None:
    port = free_port()
    server = serve(
        port, tmp, "--production-server", DATABASE_URL=pg_server.create_database("mp"), WORKERS="2"
    )
    with server:
        server.wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        scraped = httpx.get(f"{base}/metrics").text
        start = _sample(scraped, "halolight_http_requests_total", operation="getHealth")
        for _ in range(20):
            httpx.get(f"{base}/health")  # new connections: granian spreads them over both workers
        for _ in range(4):  # whichever worker answers the scrape, the count is the sum of both
            text = httpx.get(f"{base}/metrics").text
            assert _sample(text, "halolight_http_requests_total", operation="getHealth") == start + 20
            # Multiprocess mode (the values come from the workers' files): no per-process `_created` series.
            assert "halolight_http_requests_created" not in text


def test_json_access_lines_in_a_real_server(pg_server: TestServer, tmp: Path) -> None:
    port = free_port()
    server = serve(port, tmp, DATABASE_URL=pg_server.create_database("json"), LOG_FORMAT="json")
    with server:
        server.wait_ready(port)
        httpx.get(f"http://127.0.0.1:{port}/api/users", headers={"X-Request-ID": "trace-me-1"})
        time.sleep(0.3)
        lines = [json.loads(line) for line in server.output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "trace-me-1"]
    assert len(access) == 1, lines[-5:]
    line = access[0]
    assert line["logger"] == "halolight.access"
    assert line["operation_id"] == "listUsers"
    assert line["status"] == 401
    assert line["duration_ms"] >= 0
    assert any(line.get("logger") == "halolight.startup" for line in lines)


@pytest.mark.parametrize("production_server", [False, True], ids=["uvicorn", "granian"])
def test_graceful_shutdown_finishes_in_flight_requests(
    pg_server: TestServer, tmp: Path, production_server: bool
) -> None:
    port = free_port()
    extra = ("--production-server",) if production_server else ()
    server: Server = serve(port, tmp, *extra, DATABASE_URL=pg_server.create_database("stop"), WORKERS="1")
    server.wait_ready(port)
    body = b'{"email": "nobody@example.com", "password": "not-the-one"}'
    head = (
        f"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(head + body[:10])
        time.sleep(0.3)  # the request is in flight
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), (answer[:200], server.output[-2000:])
    assert server.stop(signal.SIGTERM) == 0, server.output[-2000:]
