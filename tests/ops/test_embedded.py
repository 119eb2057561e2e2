"""The embedded PostgreSQL belongs to the server that started it (real processes, real signals)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.helpers import (
    HALOLIGHT,
    ROOT,
    alive,
    base_env,
    free_port,
    postmaster_pid,
    serve,
    shared_tmp,
    wait_dead,
)


@pytest.fixture
def tmp() -> Iterator[Path]:
    path = shared_tmp("halolight-embedded-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _halolight(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = base_env(EMBEDDED_PG_DIR=str(tmp / "pgdata"))
    return subprocess.run(
        [HALOLIGHT, *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("production_server", [False, True], ids=["uvicorn", "granian"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_each_stop_signal_stops_the_server_and_its_database(
    tmp: Path, signum: signal.Signals, production_server: bool
) -> None:
    port = free_port()
    extra = ("--production-server",) if production_server else ()
    server = serve(port, tmp, *extra, EMBEDDED_PG_DIR=str(tmp / "pgdata"), WORKERS="1")
    server.wait_ready(port)
    pid = postmaster_pid(tmp / "pgdata")
    assert pid is not None and alive(pid)
    code = server.stop(signum)
    assert code == 0, server.output[-2000:]
    assert wait_dead(pid), "the embedded PostgreSQL outlived its server"
    assert "Traceback" not in server.output
    assert "embedded PostgreSQL stopped" in server.output


def test_a_second_server_refuses_and_leaves_the_first_one_working(tmp: Path) -> None:
    first_port, second_port = free_port(), free_port()
    data = str(tmp / "pgdata")
    with serve(first_port, tmp, EMBEDDED_PG_DIR=data) as first:
        first.wait_ready(first_port)
        second = serve(second_port, tmp, EMBEDDED_PG_DIR=data)
        assert second.process.wait(60) == 2
        lines = second.output.strip().splitlines()
        refusal = [line for line in lines if line.startswith("EMBEDDED_PG_DIR:")]
        assert len(refusal) == 1, second.output
        assert f"pid {first.process.pid}" in refusal[0]
        assert f"127.0.0.1:{first_port}" in refusal[0]
        assert "Traceback" not in second.output

        # A command shares the running server's database and leaves it running.
        upgrade = _halolight(tmp, "db", "upgrade")
        assert upgrade.returncode == 0, upgrade.stderr
        assert "shared with the running server" in upgrade.stdout
        # ... and so does `db reset`, which refuses to delete what a server uses.
        reset = _halolight(tmp, "db", "reset", "--yes")
        assert reset.returncode == 2
        assert f"pid {first.process.pid}" in reset.stderr

        answer = httpx.post(
            f"http://127.0.0.1:{first_port}/api/auth/login",
            json={"email": "admin@halolight.h7ml.cn", "password": "123456"},
        )
        assert answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{first_port}/health/ready").status_code == 200


def test_a_killed_run_leaves_a_database_the_next_run_adopts_and_stops(tmp: Path) -> None:
    port = free_port()
    data = tmp / "pgdata"
    killed = serve(port, tmp, EMBEDDED_PG_DIR=str(data))
    killed.wait_ready(port)
    pid = postmaster_pid(data)
    assert pid is not None
    killed.stop(signal.SIGKILL)
    assert alive(pid)  # SIGKILL runs no clean-up
    with serve(port, tmp, EMBEDDED_PG_DIR=str(data)) as again:
        again.wait_ready(port)
        assert "adopted" in again.output
        assert postmaster_pid(data) == pid
    assert wait_dead(pid)


def test_db_reset_asks_then_wipes_the_embedded_data(tmp: Path) -> None:
    data = tmp / "pgdata"
    seeded = _halolight(tmp, "db", "seed")
    assert seeded.returncode == 0, seeded.stderr
    assert (data / "PG_VERSION").exists()
    assert postmaster_pid(data) is None  # the command stopped the server it started

    declined = _halolight(tmp, "db", "reset", stdin="n\n")
    assert declined.returncode == 1
    assert (data / "PG_VERSION").exists()

    confirmed = _halolight(tmp, "db", "reset", stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert not data.exists()
    assert json.loads((tmp / "pgdata.lock").read_text() or "{}") == {}


def test_db_reset_is_for_the_embedded_database_only(tmp: Path) -> None:
    env = base_env(DATABASE_URL="postgresql://someone:secret@127.0.0.1:1/nothing")
    result = subprocess.run(
        [HALOLIGHT, "db", "reset", "--yes"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("DATABASE_URL: is set")
    assert "secret" not in result.stderr
