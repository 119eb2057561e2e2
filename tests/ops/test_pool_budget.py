"""`make run` / `make serve` size the pools so that every process fits within PostgreSQL's max_connections."""

from __future__ import annotations

import logging
import os

import psycopg
import pytest

from halolight.serve import CONNECTION_MARGIN, CONNECTIONS_ALLOWED, Database, fit_pools
from halolight.settings import Settings
from tests.pg import TestServer


def allowed(pg_server: TestServer) -> int:
    with psycopg.connect(pg_server.libpq_uri) as conn:
        row = conn.execute(CONNECTIONS_ALLOWED).fetchone()
    assert row is not None
    return int(row[0]) - CONNECTION_MARGIN


def test_pools_that_fit_are_kept(pg_server: TestServer, settings: Settings) -> None:
    database = Database(pg_server.create_database("pools"))
    assert fit_pools(settings, database, processes=1) is settings


def test_pools_that_do_not_fit_shrink_for_every_worker(
    pg_server: TestServer,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)
    database = Database(pg_server.create_database("pools"))
    processes = allowed(pg_server) // (2 * settings.database_pool_size) + 1  # one process too many
    with caplog.at_level(logging.WARNING, "halolight"):
        fitted = fit_pools(settings, database, processes=processes)
    assert fitted.database_pool_size < settings.database_pool_size
    # Two pools and the live-update listener per process.
    assert processes * (2 * fitted.database_pool_size + 1) <= allowed(pg_server)
    assert os.environ["DATABASE_POOL_SIZE"] == str(fitted.database_pool_size)  # what the workers read
    assert "exceeds" in caplog.text
