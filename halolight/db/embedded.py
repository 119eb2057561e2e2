"""The embedded PostgreSQL 16 (the `pgserver` wheel) used when DATABASE_URL is unset.

Ownership: the process that starts the server (`make run`, `make serve`, or a `halolight` command when no
server runs) holds an exclusive lock on `<EMBEDDED_PG_DIR>.lock` for its whole life and writes who it is
into that file (pid, address). Only the owner stops the PostgreSQL server, and only that one. Another server
on the same folder is refused with one line naming the owner; a `halolight` command while a server runs
attaches as a guest and never stops what it did not start. A run killed with SIGKILL leaves its PostgreSQL
running but releases the lock: the next owner adopts that PostgreSQL and stops it in its turn.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


class EmbeddedUnavailable(Exception):
    """This installation has no embedded PostgreSQL (the production image is built without it)."""


def _pgserver() -> Any:
    """The `pgserver` module, imported on first use: it is an optional extra (`.[embedded]`, which `make`
    installs) that the production image leaves out, so nothing but the embedded path may need it."""
    # pgserver asks platformdirs for a private runtime folder, which containers and CI machines often lack.
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"halolight-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        import pgserver
    except ImportError:
        raise EmbeddedUnavailable(
            "DATABASE_URL: not set, and this installation has no embedded PostgreSQL; set DATABASE_URL"
        ) from None
    return pgserver


class EmbeddedInUse(Exception):
    """The folder's PostgreSQL belongs to another running process; the message is one line naming it."""


def start(data_dir: str | Path, *, delete_on_cleanup: bool = False) -> Any:
    """Start (or reattach to) the server whose data lives in `data_dir`; returns the pgserver handle.

    `handle.cleanup()` stops the server, and with `delete_on_cleanup` (tests) also deletes its data folder.
    No ownership lock: for tests' private folders. Servers and commands use `acquire`.
    """
    pgserver = _pgserver()
    path = Path(data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(path, cleanup_mode="delete" if delete_on_cleanup else "stop")


def lock_path(data_dir: str | Path) -> Path:
    path = Path(data_dir).resolve()
    return path.with_name(path.name + ".lock")


def _describe(owner: dict[str, Any]) -> str:
    what = owner.get("role", "process")
    where = f" on {owner['url']}" if owner.get("url") else ""
    return f"the HaloLight {what} with pid {owner.get('pid', '?')}{where}"


def read_owner(data_dir: str | Path) -> dict[str, Any] | None:
    """Who holds the folder now (pid, role, url), or None when nobody does."""
    path = lock_path(data_dir)
    if not path.exists():
        return None
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                owner: dict[str, Any] = json.loads(fh.read() or "{}")
            except ValueError:
                owner = {}
            return owner
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


@dataclass
class EmbeddedDatabase:
    """A handle on the folder's PostgreSQL: `owner` when this process started (or adopted) it."""

    data_dir: Path
    handle: Any
    owner: bool
    adopted: bool = False
    _lock: IO[str] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def libpq_uri(self) -> str:
        return str(self.handle.get_uri())

    @property
    def url(self) -> str:
        return sqlalchemy_url(self.libpq_uri)

    @property
    def postmaster_pid(self) -> int | None:
        info = getattr(self.handle, "_postmaster_info", None)
        return int(info.pid) if info is not None else None

    def describe(self) -> str:
        if not self.owner:
            state = "shared with the running server"
        elif self.adopted:
            state = "adopted, left running by an earlier run"
        else:
            state = "started"
        return f"embedded PostgreSQL 16 in {self.data_dir} ({state}, postmaster pid {self.postmaster_pid})"

    def stop(self) -> None:
        """Release the folder; the owner also stops its PostgreSQL. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.owner:
                _stop_postmaster(self.handle)
            else:
                self.handle.cleanup()  # cleanup_mode=None: only forgets this process's handle
        finally:
            if self._lock is not None:
                self._lock.truncate(0)
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
                self._lock = None


def acquire(
    data_dir: str | Path, *, role: str, url: str | None = None, allow_guest: bool = False
) -> EmbeddedDatabase:
    """Own the folder's PostgreSQL (start it, or adopt one a killed run left behind).

    When another live process owns it: a guest handle if `allow_guest` (commands), else `EmbeddedInUse`.
    """
    pgserver = _pgserver()  # an installation without the extra fails here, before any folder or lock
    path = Path(data_dir).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path(path).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _owner(lock)
        lock.close()
        if not allow_guest:
            raise EmbeddedInUse(
                f"EMBEDDED_PG_DIR: {path} is in use by {_describe(owner)}; stop it first, or set "
                "DATABASE_URL or another EMBEDDED_PG_DIR"
            ) from None
        path.mkdir(exist_ok=True)
        handle = pgserver.get_server(path, cleanup_mode=None)
        return EmbeddedDatabase(path, handle, owner=False)
    try:
        lock.seek(0)
        lock.truncate(0)
        lock.write(json.dumps({"pid": os.getpid(), "role": role, "url": url}))
        lock.flush()
        path.mkdir(exist_ok=True)
        adopted = _postmaster_running(path)
        # Handles of killed processes keep pgserver from ever stopping the server: we own it, start afresh.
        (path / ".handle_pids.json").unlink(missing_ok=True)
        handle = pgserver.get_server(path, cleanup_mode="stop")
    except BaseException:
        lock.close()
        raise
    return EmbeddedDatabase(path, handle, owner=True, adopted=adopted, _lock=lock)


def _owner(lock: IO[str]) -> dict[str, Any]:
    """What the process holding `lock` wrote into it (pid, role, url); empty if unreadable."""
    lock.seek(0)
    try:
        owner = json.loads(lock.read() or "{}")
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


def _postmaster_running(path: Path) -> bool:
    pid_file = path / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def _stop_postmaster(handle: Any) -> None:
    handle.cleanup()
    # pgserver only stops the server when the last process holding a handle lets go; a guest killed with
    # SIGKILL never lets go. We own the folder, so its server is ours to stop (SIGINT: "fast" shutdown).
    info = getattr(handle, "_postmaster_info", None)
    if info is not None and info.process.is_running():
        info.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        while info.process.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)


def stop(handle: Any) -> None:
    """Stop a handle from `start` (or an `EmbeddedDatabase`), even one a killed earlier run left behind."""
    if isinstance(handle, EmbeddedDatabase):
        handle.stop()
    else:
        _stop_postmaster(handle)


def reset(data_dir: str | Path) -> Path:
    """Delete the folder's data (its PostgreSQL stopped first). Refuses while another process owns it."""
    path = Path(data_dir).resolve()
    lock = lock_path(path).open("a+")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EmbeddedInUse(
                f"EMBEDDED_PG_DIR: {path} is in use by {_describe(_owner(lock))}; stop it first"
            ) from None
        if _postmaster_running(path):
            pid = int((path / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while _postmaster_running(path) and time.monotonic() < deadline:
                time.sleep(0.05)
        if path.exists():
            shutil.rmtree(path)
        lock.truncate(0)
    finally:
        lock.close()
    return path


def sqlalchemy_url(libpq_uri: str, database: str | None = None) -> str:
    """Turn pgserver's libpq URI (`postgresql://postgres:@/postgres?host=/tmp/..`) into a psycopg 3 URL."""
    url = libpq_uri.replace("postgresql://", "postgresql+psycopg://", 1)
    if database is not None:
        head, _, query = url.partition("?")
        base = head.rsplit("/", 1)[0]
        url = f"{base}/{database}?{query}" if query else f"{base}/{database}"
    return url
