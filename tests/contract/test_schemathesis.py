"""The running server against spec/openapi.yaml (not the app's own document): every check, every phase, as
the admin and as limited users (tests/contract/hooks.py), failing on any schemathesis warning."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.run import run_schemathesis
from tests.ops.helpers import ROOT, free_port, serve
from tests.pg import TestServer

LONG = os.environ.get("HALOLIGHT_FUZZ") == "long"


@dataclass(frozen=True)
class Server:
    url: str
    outbox: Path
    log: Path


@pytest.fixture(scope="module")
def server(pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    tmp = tmp_path_factory.mktemp("contract")
    database = pg_server.create_database("contract")
    # The fuzzer logs in (and opens share links) far more often than any person; throttling has its own
    # HTTP tests.
    with serve(
        port,
        tmp,
        DATABASE_URL=database,
        AUTH_RATE_LIMIT="100000/minute",
        FILES_SHARE_RATE_LIMIT="100000/minute",
        # A live-update stream ends after this long: each call of the stream operation costs well under a
        # second, not the default hour.
        EVENTS_STREAM_MAX_SECONDS="0.1",
        EVENTS_STREAMS_PER_USER="100",
    ) as process:
        process.wait_ready(port)
        yield Server(f"http://127.0.0.1:{port}", tmp / "outbox", process.log_path)


def _server_errors(log: Path, limit: int = 8000) -> str:
    """The tracebacks the server logged (a 500 is easier to fix with its cause)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    blocks = re.findall(r"^unhandled error on .*?(?=^INFO:|\Z)", text, flags=re.M | re.S)
    return "".join(blocks)[-limit:]


def _report(stdout: str) -> str:
    """schemathesis' report from its failures, errors and warnings on (everything after the progress)."""
    found = [stdout.find(marker) for marker in ("= ERRORS =", "= FAILURES =", "= WARNINGS =")]
    start = min((i for i in found if i >= 0), default=-1)
    if start >= 0:
        start = stdout.rfind("\n", 0, start) + 1
    return stdout[start:] if start >= 0 else stdout[-30000:]


def test_server_conforms_to_spec(server: Server) -> None:
    env = {
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "HALOLIGHT_CONTRACT_URL": server.url,
        "HALOLIGHT_CONTRACT_OUTBOX": str(server.outbox),
    }
    result = run_schemathesis(
        ROOT / "spec" / "openapi.yaml",
        server.url,
        max_examples=300 if LONG else 40,
        seed=20261124,
        env=env,
        timeout=3000 if LONG else 900,
    )
    if result.returncode != 0:
        errors = _server_errors(server.log)
        report = f"{_report(result.stdout)}\n{result.stderr[-5000:]}"
        pytest.fail(
            f"schemathesis exited with {result.returncode}\n\n{report}"
            + (f"\n\nServer errors ({server.log}):\n{errors}" if errors else ""),
            pytrace=False,
        )
