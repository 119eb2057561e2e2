"""Real servers and tools from Debian's packages for tests: installed by the test's own set-up when missing,
skipped with a clear message only where they cannot be installed (no apt-get, not root)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def debian_tool(binary: str, package: str) -> str:
    found = shutil.which(binary)
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            env=env,
            capture_output=True,
            timeout=600,
        )
        found = shutil.which(binary)
    if found is None:
        pytest.skip(f"{binary} is not installed and could not be installed with apt-get ({package}) here")
    return found
