"""Real servers and tools from Debian's packages for tests: installed by the test's own set-up when missing,
skipped with a clear message only where they cannot be installed (no apt-get, not root)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# pytest-xdist workers install in parallel (chromium, buildah, ...): one apt-get at a time among them, and
# apt waits for a dpkg lock that anything else holds instead of failing.
APT_LOCK = Path(tempfile.gettempdir()) / "halolight-tests-apt.lock"


def apt_install(*packages: str, recommends: bool = False, timeout: float = 900) -> str | None:
    """Install Debian packages with apt-get, non-interactively; None when done, else why not."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "not root, so apt-get cannot install"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", "DPkg::Lock::Timeout=300"]
    commands = [
        ["apt-get", *wait, "update", "-qq"],
        ["apt-get", *wait, "install", "-y", "-qq", *([] if recommends else ["--no-install-recommends"])],
    ]
    commands[1] += packages
    deadline = time.monotonic() + timeout
    with APT_LOCK.open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return f"another test's apt-get held {APT_LOCK} for {timeout:.0f} s"
                time.sleep(0.5)
        for command in commands:
            try:
                subprocess.run(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=True,
                    timeout=max(1, deadline - time.monotonic()),
                )
            except subprocess.CalledProcessError as error:
                return f"{' '.join(command[3:])} failed: {error.stderr.decode(errors='replace')[-500:]}"
            except subprocess.TimeoutExpired:
                return f"{' '.join(command[3:])} did not finish in {timeout:.0f} s"
    return None


def debian_tool(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None:
        reason = apt_install(package)
        found = shutil.which(binary)
        if found is None:
            pytest.skip(f"{binary} is not installed and apt-get could not install it ({package}): {reason}")
    return found
