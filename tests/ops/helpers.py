"""Real server processes for the operations tests: started as operators start them, stopped by signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HALOLIGHT = str(Path(sys.executable).parent / "halolight")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def base_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without settings that would leak into the server, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({"ENVIRONMENT": "test", "BCRYPT_ROUNDS": "4", "HOST": "127.0.0.1", "SHUTDOWN_TIMEOUT_S": "10"})
    env.update(overrides)
    return env


def shared_tmp(prefix: str) -> Path:
    """A folder the embedded PostgreSQL's system user (`pgserver` when run as root) can enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class Server:
    """`python -m halolight.serve` (or any command) with its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def wait_ready(self, port: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.output[-3000:]}")
            time.sleep(0.2)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


def serve(port: int, tmp: Path, *extra: str, **env: str) -> Server:
    return Server(
        [PYTHON, "-m", "halolight.serve", *extra],
        base_env(PORT=str(port), MAIL_OUTBOX_DIR=str(tmp / "outbox"), **env),
        tmp / f"server-{port}.log",
    )


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().split("\n", 1)[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_dead(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False
