"""Shared fixtures: one embedded PostgreSQL per run, one migrated and seeded database for the API tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from halolight.app import create_app
from halolight.db import migrate
from halolight.mail import OutboxMailSender
from halolight.serve import seed_database
from halolight.settings import Settings
from tests.pg import TestServer, server_fixture


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    yield from server_fixture()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        bcrypt_rounds=4,
        mail_outbox_dir=str(tmp_path_factory.mktemp("outbox")),
        auth_rate_limit="1000/minute",
    )


@pytest.fixture(scope="session")
def database_url(pg_server: TestServer, settings: Settings) -> str:
    url = pg_server.create_database("api")
    migrate.upgrade(url)
    asyncio.run(seed_database(settings, url))
    return url


@pytest.fixture(scope="session")
def app(settings: Settings, database_url: str) -> FastAPI:
    return create_app(settings, database_url)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def outbox(
    settings: Settings, app: FastAPI, client: httpx.AsyncClient
) -> AsyncIterator[OutboxMailSender]:
    """The test app's outbox. Mail is sent in the background after the commit: while a test uses this
    fixture, every response of `client` waits for that background work, so the outbox can be read at once."""

    async def drain(_: httpx.Response) -> None:
        await app.state.runtime.drain()

    hooks = client.event_hooks["response"]
    hooks.append(drain)
    try:
        yield OutboxMailSender(Path(settings.mail_outbox_dir))
    finally:
        hooks.remove(drain)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back after the test (handler unit tests)."""
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
    await engine.dispose()
