"""`schemathesis run` as both contract tests run it: tests/contract and the scratch specs' one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ops.helpers import ROOT


def run_schemathesis(
    spec: Path, url: str, *, max_examples: int, seed: int, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` as the contract tests run it: every check, every phase, one worker, no example
    database, repeatable by its seed; `env` adds the hooks and what they read."""
    command = [
        shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis",
        "run",
        str(spec),
        "--url",
        url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "15",
        "--no-color",
        # e.g. HALOLIGHT_CONTRACT_ARGS="--include-tag Users" while working on one tag
        *os.environ.get("HALOLIGHT_CONTRACT_ARGS", "").split(),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )
    print(result.stdout[-6000:])  # shown with -s, and by pytest for a failure
    return result
