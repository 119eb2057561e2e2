"""Shared fixtures: one embedded PostgreSQL per test process (each pytest-xdist worker has its own), one
migrated and seeded database for the API tests, handler contexts on a rolled-back session, and a statement
counter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from halolight.app import create_app
from halolight.context import AuthContext, PublicContext
from halolight.db import migrate, reads
from halolight.db.engine import create_engine
from halolight.mail import OutboxMailSender
from halolight.security.principal import Principal
from halolight.serve import seed_database
from halolight.settings import Settings
from tests.pg import TestServer, server_fixture

# The session's SeaweedFS (`seaweed`), for tests/storage and tests/server alike: one per test process.
pytest_plugins = ["tests.storage.seaweed"]

# The longest test files first, in this order: under pytest-xdist (`make test`: --dist loadfile
# --no-loadscope-reorder) each worker starts with one of them, in parallel with the rest, instead of being
# handed one last and finishing alone. Prefixes of node ids; the rest keeps its order.
SLOW_FIRST = (
    "tests/ops/test_image.py",  # mostly waiting: on debootstrap's downloads, on buildah
    "tests/contract/",
    "tests/codegen/test_scratch_contract.py",
    "tests/ops/test_embedded.py",
    "tests/api/test_production.py",
    "tests/storage/test_storage.py",
    "tests/ops/",
    "tests/server/",
    "tests/events/test_two_workers.py",
)


def _slowness_rank(item: pytest.Item) -> int:
    return next((i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_slowness_rank)  # stable


# Lines a test records with `record_property("report", line)` (the image's size, build times), printed at the
# end of the run; under pytest-xdist they travel with the test reports.
_REPORTED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "report" and value not in _REPORTED:
            _REPORTED.append(str(value))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _REPORTED:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    yield from server_fixture()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        bcrypt_rounds=4,
        mail_outbox_dir=str(tmp_path_factory.mktemp("outbox")),
        storage_local_dir=str(tmp_path_factory.mktemp("files")),
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
async def db(database_url: str, settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back after the test (handler unit tests), on an engine made as the
    app makes its own (`halolight.db.engine`: UTC timestamps on the fast read path, server-side bounds)."""
    engine = create_engine(settings, database_url)
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


MakeCtx = Callable[..., AuthContext]
CountStatements = Callable[..., AbstractContextManager[list[str]]]


@pytest.fixture
def public_ctx(db: AsyncSession, app: FastAPI) -> PublicContext:
    """An anonymous handler context on the rolled-back `db` session."""
    return PublicContext(db=db, runtime=app.state.runtime, client_ip="192.0.2.1")


@pytest.fixture
def make_ctx(db: AsyncSession, app: FastAPI) -> MakeCtx:
    """`make_ctx("users:view", ..., user_id=...)`: an authenticated handler context on the rolled-back `db`
    session, holding exactly the given permissions (`user_id` need not exist unless the handler loads it)."""

    def make(*permissions: str, user_id: str = "caller-id") -> AuthContext:
        principal = Principal(user_id=user_id, session_id="session-id", permissions=frozenset(permissions))
        return AuthContext(db=db, runtime=app.state.runtime, client_ip="192.0.2.1", principal=principal)

    return make


def _listen_target(of: Any) -> Any:
    if of is None:
        return Engine  # every engine of this process: the app's (through `client`) and the `db` session's
    if isinstance(of, AsyncSession):
        return of.get_bind()
    if isinstance(of, AsyncEngine):
        return of.sync_engine
    if isinstance(of, AsyncConnection):
        return of.sync_connection
    if isinstance(of, Engine | Connection):
        return of
    raise TypeError(f"cannot count the statements of {of!r}")


@pytest.fixture
def count_statements() -> CountStatements:
    """`with count_statements() as statements: ...` collects the SQL statements sent while the block runs.

    By default every engine in the test process is watched (HTTP calls through `client` included); pass a
    session, engine or connection (`count_statements(db)`) to watch only that one, and `select_only=True` to
    keep only SELECTs (no SAVEPOINT, INSERT, ...). The list is filled as statements are sent. Statements of
    the fast read path (`halolight.db.reads`, psycopg directly) are counted whatever the target: tests run
    one request at a time."""

    @contextmanager
    def count(of: Any = None, *, select_only: bool = False) -> Iterator[list[str]]:
        statements: list[str] = []
        target = _listen_target(of)

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not select_only or statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        def record_fast(statement: str, _parameters: Mapping[str, Any]) -> None:
            record(None, None, statement)

        event.listen(target, "before_cursor_execute", record)
        reads.STATEMENT_LISTENERS.append(record_fast)
        try:
            yield statements
        finally:
            event.remove(target, "before_cursor_execute", record)
            reads.STATEMENT_LISTENERS.remove(record_fast)

    return count
