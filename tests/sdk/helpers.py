"""`make sdk`'s outputs for the tests: made by make itself (so the tests check the Makefile too), one process
at a time, and only when the spec or the settings changed since the last run (make's own timestamps)."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"


def require_node(needed_by: str) -> None:
    """Skip the test, with the reason, where Node.js or npm is not on PATH."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{needed_by} needs Node.js and npm; not found on PATH: {', '.join(missing)}")


def make(target: str, timeout: float = 240) -> None:
    """`make <target>` in the repository, under a lock shared by every pytest-xdist worker. `.venv/.installed`
    is taken as up to date: the tests run in that environment already."""
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"halolight-sdk-{key}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            ["make", "--no-print-directory", "-o", ".venv/.installed", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if result.returncode != 0:
        raise AssertionError(f"make {target} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
