"""Start-up as an operator sees it: a short report, one clear line per problem, settings from `.env` too."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from halolight.settings import Settings
from tests.ops.helpers import PYTHON, ROOT, Server, base_env, free_port, serve, shared_tmp
from tests.pg import TestServer


@pytest.fixture
def tmp() -> Iterator[Path]:
    path = shared_tmp("halolight-startup-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "halolight.serve"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _migrated(pg_server: TestServer, url: str) -> bool:
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        return conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone() == (True,)


def test_the_start_up_report(pg_server: TestServer, tmp: Path) -> None:
    url = pg_server.create_database("report")
    # The same database through a URL that carries a password: the report must not show it.
    with psycopg.connect(pg_server.libpq_uri, autocommit=True) as conn:
        conn.execute("DO $$BEGIN CREATE ROLE halo LOGIN SUPERUSER PASSWORD 'pw-Secret-4711'; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END$$")  # fmt: skip
    with_password = url.replace("postgresql+psycopg://postgres:@", "postgresql://halo:pw-Secret-4711@")
    port = free_port()
    with serve(port, tmp, DATABASE_URL=with_password) as server:
        server.wait_ready(port)
        report = [line for line in server.output.splitlines() if "halolight.startup" in line]
    assert len(report) == 5, server.output
    text = "\n".join(report)
    assert "pw-Secret-4711" not in server.output
    assert "database: postgresql://halo@/" in text
    assert re.search(r"migrations: applied 0001, 0002, .*; at head \d+", text)
    assert "demo logins (password 123456): admin@halolight.h7ml.cn" in text
    base = f"http://127.0.0.1:{port}"
    assert f"API: {base}/api" in text
    assert f"docs: {base}/api/docs" in text
    assert f"metrics: {base}/metrics" in text


def test_a_port_in_use_is_one_line_before_migrating(pg_server: TestServer, tmp: Path) -> None:
    url = pg_server.create_database("busy")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(base_env(DATABASE_URL=url, PORT=str(port)))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"PORT: 127.0.0.1:{port} is already in use; stop what listens there or set PORT"
    )
    assert not _migrated(pg_server, url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root:pw-Secret-4711@localhost/db", "DATABASE_URL: mysql is not supported"),
        ("postgresql://someone:pw-Secret-4711@127.0.0.1:1/db", "DATABASE_URL: cannot use postgresql://someone@127.0.0.1:1/db"),
        ("not a url", "DATABASE_URL: not a URL"),
    ],
)  # fmt: skip
def test_a_wrong_database_url_is_one_line(url: str, expected: str) -> None:
    result = _run(base_env(DATABASE_URL=url, PORT=str(free_port())))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "pw-Secret-4711" not in result.stderr + result.stdout


def test_a_bad_setting_is_one_line_without_its_value() -> None:
    result = _run(base_env(PORT="eighty", JWT_SECRET_KEY="short-Secret-4711"))
    assert result.returncode == 2
    assert sorted(result.stderr.strip().splitlines()) == [
        "JWT_SECRET_KEY: String should have at least 32 characters",
        "PORT: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert "Secret-4711" not in result.stderr


def test_host_and_port_come_from_dot_env(pg_server: TestServer, tmp: Path) -> None:
    port = free_port()
    url = pg_server.create_database("dotenv")
    (tmp / ".env").write_text(f"HOST=127.0.0.1\nPORT={port}\nDATABASE_URL={url}\nSEED_DEMO_USERS=false\n")
    env = base_env()
    for name in ("HOST", "PORT"):
        env.pop(name, None)
    with Server([PYTHON, "-m", "halolight.serve"], env, tmp / "server.log", cwd=tmp) as server:
        server.wait_ready(port)
        assert httpx.get(f"http://127.0.0.1:{port}/health/ready").json()["status"] == "ok"
        assert "no demo accounts (SEED_DEMO_USERS=false)" in server.output


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_readme_settings_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    assert {name.upper() for name in Settings.model_fields} <= named
