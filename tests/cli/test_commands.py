"""The `halolight` command line: every command has --help; db, openapi commands do what they say."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from halolight.cli import SPEC, main
from halolight.db.status import head_revisions
from tests.pg import TestServer

COMMANDS = [
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["db", "seed"],
    ["db", "reset"],
    ["users", "create-admin"],
    ["openapi"],
    ["openapi", "lint"],
    ["openapi", "bundle"],
    ["storage"],
    ["storage", "gc"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_serve_offers_the_production_server() -> None:
    assert "--production-server" in CliRunner().invoke(main, ["serve", "--help"]).output


def test_openapi_lint() -> None:
    result = CliRunner().invoke(main, ["openapi", "lint"])
    assert result.exit_code == 0
    assert result.output.strip() == "spec/openapi.yaml: OK"


@pytest.mark.parametrize("name", ["openapi.json", "openapi.yaml"])
def test_openapi_bundle_writes_the_spec_as_one_file(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = CliRunner().invoke(main, ["openapi", "bundle", "-o", str(out)])
    assert result.exit_code == 0, result.output
    loaded = json.loads(out.read_text()) if name.endswith(".json") else yaml.safe_load(out.read_text())
    assert loaded == yaml.safe_load(SPEC.read_text())


def test_openapi_bundle_to_standard_output() -> None:
    result = CliRunner().invoke(main, ["openapi", "bundle", "--format", "json"])
    assert json.loads(result.output)["openapi"].startswith("3.")


def _count(pg_server: TestServer, url: str, table: str) -> int:
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608 - fixed names
        return int(row[0]) if row else 0


def test_db_upgrade_then_seed(pg_server: TestServer) -> None:
    url = pg_server.create_database("cli")
    env = {"DATABASE_URL": url, "ENVIRONMENT": "test", "BCRYPT_ROUNDS": "4"}
    upgraded = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "migrations: applied 0001" in upgraded.output
    assert _count(pg_server, url, "roles") == 0
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        assert {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")} == head_revisions()

    seeded = CliRunner().invoke(main, ["db", "seed"], env=env)
    assert seeded.exit_code == 0, seeded.output
    assert "migrations: up to date" in seeded.output
    assert "demo logins" in seeded.output
    assert _count(pg_server, url, "roles") > 0
    assert _count(pg_server, url, "users") > 0


def test_db_commands_name_an_unreachable_database_in_one_line() -> None:
    env = {"DATABASE_URL": "postgresql://ops:pw-Secret-4711@127.0.0.1:1/db", "ENVIRONMENT": "test"}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 2
    assert result.output.startswith("DATABASE_URL: cannot use postgresql://ops@127.0.0.1:1/db")
    assert len(result.output.strip().splitlines()) == 1
    assert "pw-Secret-4711" not in result.output
