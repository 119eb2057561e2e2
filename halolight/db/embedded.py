"""The embedded PostgreSQL 16 (the `pgserver` wheel) used when DATABASE_URL is unset."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

# pgserver asks platformdirs for a private runtime folder, which containers and CI machines often lack.
if "XDG_RUNTIME_DIR" not in os.environ:
    _runtime = Path(tempfile.gettempdir()) / f"halolight-runtime-{os.getuid()}"
    _runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)

import pgserver


def start(data_dir: str | Path, *, delete_on_cleanup: bool = False) -> Any:
    """Start (or reattach to) the server whose data lives in `data_dir`; returns the pgserver handle.

    `handle.cleanup()` stops the server, and with `delete_on_cleanup` (tests) also deletes its data folder.
    """
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(  # type: ignore[attr-defined]
        path, cleanup_mode="delete" if delete_on_cleanup else "stop"
    )


def stop(handle: Any) -> None:
    """Stop the server started by `start`, even if a killed earlier run left a stale handle behind."""
    handle.cleanup()
    # pgserver only stops the server when the last process holding a handle lets go; a run killed with
    # SIGKILL never lets go, so stop it ourselves (SIGINT is PostgreSQL's "fast" shutdown).
    info = getattr(handle, "_postmaster_info", None)
    if info is not None and info.process.is_running():
        info.process.send_signal(signal.SIGINT)


def sqlalchemy_url(libpq_uri: str, database: str | None = None) -> str:
    """Turn pgserver's libpq URI (`postgresql://postgres:@/postgres?host=/tmp/..`) into a psycopg 3 URL."""
    url = libpq_uri.replace("postgresql://", "postgresql+psycopg://", 1)
    if database is not None:
        head, _, query = url.partition("?")
        base = head.rsplit("/", 1)[0]
        url = f"{base}/{database}?{query}" if query else f"{base}/{database}"
    return url
