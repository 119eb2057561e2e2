"""`make serve`: the API as in production, on granian (Rust HTTP/1 server, uvloop), N worker processes.

Chosen over uvicorn for what slow or hostile clients can do: granian bounds the header block (its read
buffer, `HTTP_READ_BUFFER_BYTES`; the app answers 431 past `HTTP_MAX_HEADER_BYTES`) and the time to receive
it (`HTTP_HEADER_READ_TIMEOUT_S`), and closes
idle keep-alive connections after that same timeout; uvicorn with httptools bounds neither. The body's read
time and pace are bounded by the app itself (`halolight.middleware.RequestGuard`, 408), whatever the
server, and so are the requests one client address may have in flight
(`halolight.edge.ClientCap`, 429).
"""

from __future__ import annotations

import os
from typing import Any

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.server.mp import MPServer

from halolight.logging import configure_logging
from halolight.settings import Settings


def worker_count(settings: Settings) -> int:
    return settings.workers or os.cpu_count() or 1


class _Server(MPServer):
    """SIGHUP (a closed terminal) stops the server as SIGINT and SIGTERM do, instead of granian's reload:
    the process that started the embedded database must then stop it too."""

    def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
        self.signal_handler_interrupt()  # type: ignore[no-untyped-call]


def build(
    settings: Settings,
    database_url: str,
    host: str,
    port: int,
    *,
    target: str = "halolight.app:create_worker_app",
    factory: bool = True,
) -> MPServer:
    """`target`: another ASGI app served with the same flags (bench/transport.py: the bare transport)."""
    # Workers are separate processes that build the app from the environment (`create_worker_app()`).
    os.environ["DATABASE_URL"] = database_url
    # Worker processes (not granian's free-threaded mode): this CPython has a GIL.
    server = _Server(
        target,
        factory=factory,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=worker_count(settings),
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        # The connection budget (README, "Serving"): each worker holds at most `http_max_connections`
        # connections at once (granian counts connections, not requests: a permit is taken before `accept`
        # and kept until the connection closes); more wait in the kernel's accept queue. Per client address,
        # `halolight.edge.ClientCap` keeps most of them free for others.
        backlog=settings.http_backlog,
        backpressure=settings.http_max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.http_header_read_timeout_s * 1000),
            keep_alive=True,
            # Body chunks come in pieces of this size; the header block's own bound (HTTP_MAX_HEADER_BYTES)
            # is the app's (RequestGuard, 431), unless a block is larger than the buffer itself.
            max_buffer_size=max(settings.http_read_buffer_bytes, settings.http_max_header_bytes),
        ),
        log_access=False,
        # granian's own lines go through the application's handler (JSON in production).
        log_dictconfig={"loggers": {"_granian": {"level": "INFO", "propagate": True}}},
        respawn_failed_workers=True,
        # On SIGINT/SIGTERM/SIGHUP workers stop accepting and finish their in-flight requests first.
        workers_kill_timeout=max(1, int(settings.shutdown_timeout_s)),
    )
    configure_logging(settings)  # granian's constructor configured logging its own way
    return server


def run(settings: Settings, database_url: str, host: str, port: int) -> None:
    build(settings, database_url, host, port).serve()
