"""One embedded PostgreSQL 16 server per test process (per pytest-xdist worker), and fresh empty databases on
it. Workers share nothing: each has its own server in its own folder, hence its own databases."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg

from halolight.db import embedded

_counter = itertools.count()
# "gw0", "gw1", ... under pytest-xdist; "main" in a plain run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


class TestServer:
    __test__ = False  # a fixture's class, not a pytest test class

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"halolight-test-pg-{WORKER}-")
        self.handle: Any = embedded.start(self._tmp.name, delete_on_cleanup=True)
        self.libpq_uri: str = self.handle.get_uri()

    def create_database(self, prefix: str = "t") -> str:
        """Create an empty database and return its SQLAlchemy (psycopg 3) URL."""
        name = f"{prefix}_{WORKER}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.libpq_uri, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return embedded.sqlalchemy_url(self.libpq_uri, name)

    def libpq_url(self, sqlalchemy_url: str) -> str:
        return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def stop(self) -> None:
        try:
            self.handle.cleanup()
        finally:
            self._tmp.cleanup()


def server_fixture() -> Iterator[TestServer]:
    server = TestServer()
    try:
        yield server
    finally:
        server.stop()
