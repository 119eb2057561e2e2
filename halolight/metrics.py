"""Prometheus metrics (prometheus_client), served at `/metrics`.

- `halolight_http_requests_total{operation,method,status}` and
  `halolight_http_request_duration_seconds{operation,status}`: `operation` is the spec's operationId (or
  `docs`, `health_ready`, `metrics`, `unknown`), so the label set stays bounded whatever clients send;
- `halolight_db_pool_connections{pool,state}`: `checked_out` and `open` connections of the process's pools,
  `sessions` (the transactions of writes), `reads` (the read pool of GET requests) and `listen` (the
  live-update hub's one listening connection, halolight/events/hub.py);
- `halolight_login_failures_total`: logins answered 401 (wrong or unknown credentials, inactive accounts).

Granian workers are processes: with PROMETHEUS_MULTIPROC_DIR set (`make serve` sets a fresh private folder
unless the setting names one) each worker writes its values there and a scrape, whichever worker answers it,
sums all of them. prometheus_client reads that variable when it is first imported, so the server sets it
before any worker starts, and this module is imported lazily (from `create_app`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from halolight.db.reads import ReadPool
from halolight.events.hub import Hub

REQUESTS = Counter("halolight_http_requests", "HTTP requests answered", ["operation", "method", "status"])
LATENCY = Histogram(
    "halolight_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["operation", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
POOL = Gauge(
    "halolight_db_pool_connections",
    "Database connections of this process's pools (sessions, reads), by state (checked_out, open)",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
LOGIN_FAILURES = Counter("halolight_login_failures", "Logins refused with 401")


def observe(operation: str, method: str, status: int, duration_s: float) -> None:
    REQUESTS.labels(operation, method, str(status)).inc()
    LATENCY.labels(operation, str(status)).observe(duration_s)
    if operation == "login" and status == 401:
        LOGIN_FAILURES.inc()


def _set_pool(pool: str, checked_out: int, open_: int) -> None:
    POOL.labels(pool, "checked_out").set(checked_out)
    POOL.labels(pool, "open").set(open_)


def watch_pool(engine: AsyncEngine) -> None:
    """Keep the session pool's gauges current through the pool's own events."""
    pool: Any = engine.sync_engine.pool

    def update(*_: Any) -> None:
        checked_out = pool.checkedout()
        _set_pool("sessions", checked_out, checked_out + pool.checkedin())

    def update_soon(*_: Any) -> None:
        # The events fire before the pool has counted the change (a returned connection still counts as
        # checked out during `checkin`): read the counts once the pool is done.
        try:
            asyncio.get_running_loop().call_soon(update)
        except RuntimeError:  # no event loop (a synchronous caller): the next event corrects the figures
            update()

    for name in ("connect", "checkout", "checkin", "close", "close_detached"):
        event.listen(pool, name, update_soon)
    update()


def watch_read_pool(pool: ReadPool) -> None:
    """Keep the read pool's gauges current: it reports each checkout and return."""
    pool.on_change = lambda checked_out, open_: _set_pool("reads", checked_out, open_)
    _set_pool("reads", 0, 0)


def watch_hub(hub: Hub) -> None:
    """The live-update hub's listening connection (`listen`, state `open` only: it is never checked out of
    a pool), reported once the hub has started (the first stream of the process)."""
    hub.on_connection = lambda connected: POOL.labels("listen", "open").set(int(connected))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """The text exposition: every worker's values in multiprocess mode, else this process's."""
    folder = multiprocess_dir()
    if folder:
        _forget_dead_workers(folder)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _forget_dead_workers(folder: str) -> None:
    """Drop the live-gauge files of workers that died (granian respawns them under new pids)."""
    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1]) if path.stem.rsplit("_", 1)[1].isdigit() else None
        if pid is None:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


def authorized(authorization: str | None, token: str | None) -> bool:
    """No token configured: open (development, test). Else `Bearer <token>`, compared in constant time."""
    if token is None:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(presented.strip().encode(), token.encode())
