"""The async engine: psycopg 3, pre-ping, and server-side timeouts so no request can hang a connection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from halolight.settings import Settings


def normalise_url(url: str) -> str:
    """Accept the libpq spelling operators use (`postgresql://`) and select the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    options = (
        f"-c statement_timeout={settings.database_statement_timeout_ms} "
        "-c idle_in_transaction_session_timeout=60000"
    )
    return create_async_engine(
        normalise_url(url),
        echo=settings.database_echo,
        pool_pre_ping=True,
        pool_size=settings.database_pool_size,
        pool_timeout=10,
        connect_args={"connect_timeout": settings.database_connect_timeout_s, "options": options},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers build their response before the generated route commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
