"""`make serve` (granian) against slow and oversized clients: every connection they hold ends in bounded time.

The bounds are set low here (1 s) so the test is quick; the defaults are in halolight/settings.py.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.ops.helpers import free_port, serve
from tests.pg import TestServer

BOUND_S = 1.0


@pytest.fixture(scope="module")
def server(pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    port = free_port()
    bounds = {
        "WORKERS": "1",
        "HTTP_HEADER_READ_TIMEOUT_S": str(BOUND_S),
        "HTTP_BODY_READ_TIMEOUT_S": str(BOUND_S),
        "HTTP_MAX_HEADER_BYTES": "16384",
    }
    database = pg_server.create_database("server")
    tmp = tmp_path_factory.mktemp("server")
    with serve(port, tmp, "--production-server", DATABASE_URL=database, **bounds) as process:
        process.wait_ready(port)
        yield "127.0.0.1", port


def _held_for(address: tuple[str, int], opening: bytes, trickle: bytes | None, limit_s: float = 15) -> float:
    """Open a connection, send `opening`, then one `trickle` every 0.2 s; return when the server ends it."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=limit_s) as conn:
        conn.sendall(opening)
        conn.settimeout(0.2)
        while time.monotonic() - started < limit_s:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                if trickle is not None:
                    try:
                        conn.sendall(trickle)
                    except OSError:
                        break
                continue
            except OSError:
                break
            if not data:
                break
            if b"\r\n\r\n" in data and b"connection: close" not in data.lower():
                continue  # an answer on a kept-alive connection: keep waiting for the close
    return time.monotonic() - started


def _many(count: int, job: Callable[[], float]) -> list[float]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: job(), range(count)))


def test_trickled_bodies_are_cut_off(server: tuple[str, int]) -> None:
    opening = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )
    held = _many(50, lambda: _held_for(server, opening, b" "))
    assert max(held) < BOUND_S + 4, held


def test_trickled_header_lines_are_cut_off(server: tuple[str, int]) -> None:
    held = _many(20, lambda: _held_for(server, b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n"))
    assert max(held) < BOUND_S + 4, held


def test_idle_keep_alive_connections_are_closed(server: tuple[str, int]) -> None:
    held = _held_for(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", None)
    assert held < BOUND_S + 4


@pytest.mark.parametrize("size", [65_536, 1_048_576])
def test_oversized_header_block_is_refused(server: tuple[str, int], size: int) -> None:
    """Over HTTP_MAX_HEADER_BYTES and within granian's read buffer: the app's 431; over the buffer: granian's
    own (the connection never reaches the app, nor holds more than the buffer)."""
    with socket.create_connection(server, timeout=10) as conn:
        # granian may answer and close while the rest is being sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def test_answers_as_the_api(server: tuple[str, int]) -> None:
    host, port = server
    response = httpx.post(
        f"http://{host}:{port}/api/auth/login", json={"email": "nobody@example.com", "password": "x"}
    )
    assert response.status_code == 401
    assert response.headers.get_list("server") == ["HaloLight"]
    assert response.headers["x-content-type-options"] == "nosniff"
