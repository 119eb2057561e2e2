from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, create_engine, pool

from tests.pg import TestServer


@dataclass(frozen=True)
class Database:
    url: str
    # Autocommit, so that DDL and reads in a test see what each migration run committed.
    engine: Engine


@pytest.fixture
def database(pg_server: TestServer) -> Iterator[Database]:
    """A fresh, empty database on the session's server."""
    url = pg_server.create_database("mig")
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        yield Database(url, engine)
    finally:
        engine.dispose()
