"""Scratch APIs for the generator tests.

Each `apis/<name>/openapi.yaml` is generated into a temporary package `scratch_<name>` (exactly as `make gen`
generates `generated/`); its handlers (`apis/<name>/handlers/*.py.txt`: not `.py`, because they import the
generated package, which does not exist in the source tree) are copied next to it; the routers are served by
the real app (`create_app(..., routers=, operations=)`)."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import APIRouter, FastAPI

from codegen.__main__ import generate
from generated.operations import OperationInfo
from halolight.app import create_app
from halolight.db import migrate
from halolight.serve import seed_database
from halolight.settings import Settings
from tests.codegen.scratch_server import SCRATCH_APIS
from tests.ops.helpers import PYTHON, Server, base_env, free_port
from tests.pg import TestServer

ROOT = Path(__file__).resolve().parents[2]
APIS = Path(__file__).resolve().parent / "apis"

# Shared between runs: checking fastapi, pydantic and sqlalchemy from a cold cache takes most of a minute.
MYPY_CACHE = Path(tempfile.gettempdir()) / (
    "halolight-codegen-mypy-cache-" + os.environ.get("PYTEST_XDIST_WORKER", "main")
)


def build_package(api: str, dest: Path, edit: Callable[[str], str] | None = None) -> str:
    package = f"scratch_{api}"
    generate(dest / package, APIS / api / "openapi.yaml", package, f"{package}.handlers")
    handlers = dest / package / "handlers"
    handlers.mkdir()
    (handlers / "__init__.py").write_text("", encoding="utf-8")
    for source in sorted((APIS / api / "handlers").glob("*.py.txt")):
        text = source.read_text(encoding="utf-8")
        (handlers / source.name.removesuffix(".txt")).write_text(
            edit(text) if edit else text, encoding="utf-8"
        )
    return package


def run_mypy(where: Path, packages: list[str]) -> subprocess.CompletedProcess[str]:
    """mypy --strict on the scratch packages; what they import (halolight) is followed silently."""
    config = where / "mypy.ini"
    config.write_text(
        "[mypy]\nstrict = True\nplugins = pydantic.mypy\nfollow_imports = silent\n"
        "[mypy-cuid,pgserver,limits.*]\nignore_missing_imports = True\n",
        encoding="utf-8",
    )
    args = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(MYPY_CACHE)]
    for package in packages:
        args += ["-p", package]
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    return subprocess.run(args, cwd=where, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def scratch_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("scratch")
    for api in SCRATCH_APIS:
        build_package(api, where)
    sys.path.insert(0, str(where))
    try:
        yield where
    finally:
        sys.path.remove(str(where))


@pytest.fixture(scope="session")
async def scratch_app(scratch_dir: Path, settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    """The real app (`create_app`: guard, error renderer, CORS, logging) serving the scratch specs."""
    routers: list[APIRouter] = []
    operations: list[OperationInfo] = []
    for api in SCRATCH_APIS:
        routers += importlib.import_module(f"scratch_{api}.routers").build_all()
        operations += importlib.import_module(f"scratch_{api}.operations").OPERATIONS
    app = create_app(settings, database_url, routers=routers, operations=operations)
    yield app
    await app.state.runtime.close()


@pytest.fixture(scope="session")
async def scratch_client(scratch_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=scratch_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="module")
def scratch_server(
    scratch_dir: Path, pg_server: TestServer, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real server (uvicorn, one process) on a database of its own, serving the API and the scratch specs,
    with a small pool (DATABASE_POOL_SIZE=4): its base URL."""
    url = pg_server.create_database("scratch")
    migrate.upgrade(url)
    asyncio.run(seed_database(settings, url))
    with psycopg.connect(pg_server.libpq_url(url), autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE scratch_counters (id text PRIMARY KEY, hits integer NOT NULL DEFAULT 0)"
        )
        connection.execute("INSERT INTO scratch_counters (id) VALUES ('c1')")
    port = free_port()
    tmp = tmp_path_factory.mktemp("scratch-server")
    env = base_env(
        DATABASE_URL=url,
        DATABASE_POOL_SIZE=str(POOL_SIZE),
        MAIL_OUTBOX_DIR=str(tmp / "outbox"),
        AUTH_RATE_LIMIT="100000/minute",
        PYTHONPATH=os.pathsep.join([str(scratch_dir), str(ROOT)]),
    )
    args = [PYTHON, "-m", "uvicorn", "--factory", "tests.codegen.scratch_server:create"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with Server(args, env, tmp / "server.log") as server:
        server.wait_ready(port)
        yield f"http://127.0.0.1:{port}"


POOL_SIZE = 4
