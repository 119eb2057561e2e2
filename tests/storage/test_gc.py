"""`halolight storage gc` on a real database and both backends: orphans found both ways, objects removed
only with --yes and only past the grace period, rows never deleted."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from halolight.cli import main
from halolight.demo_files import demo_files
from halolight.settings import Settings
from halolight.storage import Storage, build_storage
from tests.pg import TestServer
from tests.storage.conftest import drop_bucket, new_bucket, s3_settings
from tests.storage.seaweed import SeaweedServer, free_port
from tests.storage.test_storage import body, listed

DEMO_OBJECTS = sum(len(files) for files in demo_files().values())
LEGACY_PATH = "/uploads/2024/legacy.png"  # a path another backend wrote: no object of ours


def _settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if backend == "local":
        return Settings(_env_file=None, environment="test", storage_local_dir=str(tmp_path / "files"))
    server: SeaweedServer = request.getfixturevalue("seaweed")
    return s3_settings(server, asyncio.run(new_bucket(server)))


def _environment(settings: Settings, url: str) -> dict[str, str]:
    env = {"DATABASE_URL": url, "ENVIRONMENT": "test", "BCRYPT_ROUNDS": "4"}
    for name, value in settings.model_dump().items():
        if name.startswith("storage_") and value is not None:
            secret = getattr(value, "get_secret_value", None)
            env[name.upper()] = str(secret() if secret else value)
    return env


async def _run(settings: Settings, work: Any) -> Any:
    storage = build_storage(settings)
    try:
        return await work(storage)
    finally:
        await storage.close()


def _add_rows(pg_server: TestServer, url: str, paths: list[str]) -> None:
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = 'demo@halolight.h7ml.cn'").fetchone()
        assert row is not None
        for i, path in enumerate(paths):
            conn.execute(
                'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt") '
                "VALUES (%s, %s, %s, 'application/pdf', 10, %s, now())",
                (f"gc-file-{i}", f"报告 {i}.pdf", path, row[0]),
            )


def _keys(pg_server: TestServer, url: str) -> set[str]:
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        return {str(row[0]) for row in conn.execute("SELECT path FROM files")}


def _rows(pg_server: TestServer, url: str) -> int:
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM files").fetchone()
        return int(row[0]) if row else 0


def _gc(env: dict[str, str], *args: str) -> list[str]:
    result = CliRunner().invoke(main, ["storage", "gc", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_gc_finds_orphans_both_ways_and_removes_objects_only_when_asked(
    backend: str, pg_server: TestServer, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = _settings(backend, request, tmp_path)
    url = pg_server.create_database("gc")
    env = _environment(settings, url)
    seeded = CliRunner().invoke(main, ["db", "seed"], env=env)
    assert seeded.exit_code == 0, seeded.output

    async def store(storage: Storage) -> tuple[str, str, str]:
        kept, orphan, missing = storage.new_key(), storage.new_key(), storage.new_key()
        for key in (kept, orphan, "avatars/ab/abcdef"):
            await storage.put(key, body(10), content_type="application/pdf")
        return kept, orphan, missing

    kept, orphan, missing = asyncio.run(_run(settings, store))
    demo = _keys(pg_server, url)  # the demo accounts' files, stored by the seed
    assert len(demo) == DEMO_OBJECTS
    _add_rows(pg_server, url, [kept, missing, LEGACY_PATH])
    where = (
        f"s3 bucket {settings.storage_s3_bucket}"
        if backend == "s3"
        else f"local folder {Path(settings.storage_local_dir).resolve()}"
    )

    # Fresh objects are inside the grace period (60 minutes): an upload whose row is not committed yet.
    lines = _gc(env)
    # The seed stored the demo accounts' files too (each with its row): 2 + those.
    assert lines[0] == f"storage gc: {where}: {2 + DEMO_OBJECTS} objects under files/"
    assert lines[1:4] == [
        "objects without a row, older than 60 min: 0",
        "objects without a row, younger (left alone): 1",
        "rows without an object (reported only, never deleted): 2",
    ]
    assert sorted(lines[4:6]) == [
        f"  file gc-file-1 owner {_owner(pg_server, url)} path {missing!r} name '报告 1.pdf'",
        f"  file gc-file-2 owner {_owner(pg_server, url)} path {LEGACY_PATH!r} name '报告 2.pdf'",
    ]
    assert len(lines) == 6

    reported = _gc(env, "--grace-minutes", "0")
    assert reported[1] == "objects without a row, older than 0 min: 1"
    assert reported[2].startswith(f"  {orphan} 10 bytes 20")
    assert reported[-1] == "nothing removed; run with --yes to remove the 1 objects"
    assert set(asyncio.run(_run(settings, listed))) == {kept, orphan} | demo

    removed = _gc(env, "--grace-minutes", "0", "--yes")
    assert removed[-1] == "removed 1 objects"
    assert set(asyncio.run(_run(settings, listed))) == {kept} | demo
    assert asyncio.run(_run(settings, lambda s: listed(s, "avatars/"))) == ["avatars/ab/abcdef"]
    assert _rows(pg_server, url) == 3 + DEMO_OBJECTS  # rows without bytes are never deleted

    again = _gc(env, "--grace-minutes", "0", "--yes")
    assert again[1] == "objects without a row, older than 0 min: 0" and again[-1] == "removed 0 objects"
    if backend == "s3":
        asyncio.run(drop_bucket(request.getfixturevalue("seaweed"), str(settings.storage_s3_bucket)))


def _owner(pg_server: TestServer, url: str) -> str:
    with psycopg.connect(pg_server.libpq_url(url)) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = 'demo@halolight.h7ml.cn'").fetchone()
        assert row is not None
        return str(row[0])


def test_the_grace_period_counts_from_the_objects_time(pg_server: TestServer, tmp_path: Path) -> None:
    """An orphan written two hours ago is past the default 60 minutes: removed by a plain `--yes`."""
    settings = Settings(_env_file=None, environment="test", storage_local_dir=str(tmp_path / "files"))
    url = pg_server.create_database("gc")
    env = _environment(settings, url)

    async def store(storage: Storage) -> tuple[str, str]:
        old, new = storage.new_key(), storage.new_key()
        for key in (old, new):
            await storage.put(key, body(10), content_type="text/plain")
        return old, new

    old, new = asyncio.run(_run(settings, store))
    two_hours_ago = time.time() - 2 * 3600
    os.utime(tmp_path / "files" / old, (two_hours_ago, two_hours_ago))
    lines = _gc(env, "--yes")
    assert lines[1:3] == ["objects without a row, older than 60 min: 1", lines[2]]
    assert lines[2].startswith(f"  {old} 10 bytes ")
    assert "objects without a row, younger (left alone): 1" in lines
    assert asyncio.run(_run(settings, listed)) == [new]


def test_an_unreachable_store_is_one_line_and_status_1(pg_server: TestServer, seaweed: SeaweedServer) -> None:
    settings = s3_settings(
        seaweed, "halolight-files", storage_s3_endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    result = CliRunner().invoke(
        main, ["storage", "gc"], env=_environment(settings, pg_server.create_database("gc"))
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: storage: File storage temporarily unavailable"
    assert seaweed.secret_access_key not in result.output
