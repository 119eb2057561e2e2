"""The running server against spec/openapi.yaml (not the app's own document): every check, every phase."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.pg import TestServer

ROOT = Path(__file__).resolve().parents[2]
LONG = os.environ.get("HALOLIGHT_FUZZ") == "long"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_url(pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_server.create_database("contract"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BCRYPT_ROUNDS": "4",
        "MAIL_OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox")),
        # The fuzzer logs in far more often than any person; throttling has its own HTTP tests.
        "AUTH_RATE_LIMIT": "100000/minute",
    }
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "halolight.serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_server_conforms_to_spec(server_url: str) -> None:
    command = [
        shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis",
        "run",
        str(ROOT / "spec" / "openapi.yaml"),
        "--url",
        server_url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "300" if LONG else "40",
        "--seed",
        "20261124",
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
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks", "HALOLIGHT_CONTRACT_URL": server_url}
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000 if LONG else 900
    )
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-5000:]
