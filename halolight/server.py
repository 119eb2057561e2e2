"""`make serve`: the API as in production, on granian (Rust HTTP/1 server, uvloop), N worker processes.

Chosen over uvicorn for what slow or hostile clients can do: granian bounds the header block
(`HTTP_MAX_HEADER_BYTES`, 431 past it) and the time to receive it (`HTTP_HEADER_READ_TIMEOUT_S`), and closes
idle keep-alive connections after that same timeout; uvicorn with httptools bounds neither. The body's read
time is bounded by the app itself (`halolight.middleware.RequestGuard`, 408), whatever the server.
"""

from __future__ import annotations

import os

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.server.mp import MPServer

from halolight.settings import Settings


def worker_count(settings: Settings) -> int:
    return settings.workers or os.cpu_count() or 1


def build(settings: Settings, database_url: str, host: str, port: int) -> MPServer:
    # Workers are separate processes that build the app from the environment (`create_app()`).
    os.environ["DATABASE_URL"] = database_url
    # Worker processes (not granian's free-threaded mode): this CPython has a GIL.
    return MPServer(
        "halolight.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=worker_count(settings),
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.http_header_read_timeout_s * 1000),
            keep_alive=True,
            max_buffer_size=settings.http_max_header_bytes,
        ),
        log_access=False,
        respawn_failed_workers=True,
    )


def run(settings: Settings, database_url: str, host: str, port: int) -> None:
    build(settings, database_url, host, port).serve()
