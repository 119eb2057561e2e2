"""The async engine: psycopg 3, server-side timeouts so no request can hang a connection, and no pre-ping.

Pre-ping (`pool_pre_ping=True`) would cost one extra round trip on every checkout, so on every request, to
detect an event that happens once per database restart. Instead: `pool_recycle` replaces connections before
usual server or proxy idle timeouts cut them, TCP keepalives make the kernel notice a dead peer, and a
connection that died anyway fails on its first statement, where SQLAlchemy invalidates it together with every
pooled connection opened before it (one failure, not one per pooled connection). Authentication, the first
statement of every authenticated request, retries once on a fresh connection (`security/principal.py`);
elsewhere the error is the app's 503 with `Retry-After`, which clients retry. New connections of both pools
are opened through one `DatabaseGate` (`halolight.db.gate`): while the database is unreachable, requests are
answered 503 at once instead of waiting for connect timeouts, and the pools connect again when it is back.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from halolight.db.gate import DatabaseGate
from halolight.db.reads import ReadPool, register_utc_timestamps
from halolight.settings import Settings


def normalise_url(url: str) -> str:
    """Accept the libpq spelling operators use (`postgresql://`) and select the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Under the usual idle timeouts of PgBouncer (server_idle_timeout 600 s) and cloud load balancers.
POOL_RECYCLE_S = 300


def server_options(settings: Settings) -> str:
    """Server-side bounds of every connection: no statement and no idle transaction can hold one forever."""
    return (
        f"-c statement_timeout={settings.database_statement_timeout_ms} "
        "-c idle_in_transaction_session_timeout=60000"
    )


# TCP keepalives: the kernel notices a dead peer (see the module's docstring).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def libpq_url(url: str) -> str:
    """The URL as libpq (psycopg) spells it, for the read pool: no `+driver`."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def connect_kwargs(settings: Settings) -> dict[str, Any]:
    """What every connection of the app is opened with, besides its URL."""
    return {
        "connect_timeout": settings.database_connect_timeout_s,
        "options": server_options(settings),
        **KEEPALIVES,
    }


def create_gate(settings: Settings, url: str) -> DatabaseGate:
    """One per process, shared by both pools (see `halolight.db.gate`); its probe connects as they do."""
    conninfo, kwargs = libpq_url(url), connect_kwargs(settings)

    async def probe() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(conninfo, **kwargs)

    return DatabaseGate(probe)


def create_engine(settings: Settings, url: str, gate: DatabaseGate | None = None) -> AsyncEngine:
    gated: dict[str, Any] = {}
    if gate is not None:
        # The engine's connections are opened through the gate: refused at once while the database is
        # unreachable, and each failure or success tells it (the same arguments as `connect_args`).
        conninfo, kwargs = libpq_url(url), connect_kwargs(settings)

        async def connect() -> psycopg.AsyncConnection[Any]:
            return await gate.connect(lambda: psycopg.AsyncConnection.connect(conninfo, **kwargs))

        gated["async_creator"] = connect
    engine = create_async_engine(
        normalise_url(url),
        echo=settings.database_echo,
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE_S,
        pool_size=settings.database_pool_size,
        pool_timeout=10,
        connect_args=connect_kwargs(settings),
        **gated,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _utc_timestamps(dbapi_connection: Any, _record: Any) -> None:
        # Fast statements (db/reads.py) may run on this pool's connections too (`SessionReads`).
        register_utc_timestamps(dbapi_connection.driver_connection)

    return engine


def create_read_pool(settings: Settings, url: str, gate: DatabaseGate | None = None) -> ReadPool:
    return ReadPool(
        libpq_url(url),
        size=settings.database_pool_size,
        options=server_options(settings),
        connect_kwargs={"connect_timeout": settings.database_connect_timeout_s, **KEEPALIVES},
        connect_timeout_s=settings.database_connect_timeout_s + 1,
        gate=gate,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers build their response before the generated route commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
