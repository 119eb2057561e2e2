"""The hot read path: SQLAlchemy Core statements compiled once, run by psycopg directly.

Measured here (sequential calls, same machine, embedded PostgreSQL): the authentication statement costs about
1.2 ms through an `AsyncSession` (pool checkout events, greenlet hops, execution context, result processing)
and about 0.27 ms as the same SQL on a psycopg connection. Reads that every request makes
(authentication) and the hot GET operations therefore run here, while writes keep the ORM session and its
one transaction per request.

- SQL still lives in the repositories, written with SQLAlchemy Core: `Statement(select(...))` compiles it
  once, at import, for the psycopg dialect; literal values in the statement become default parameters.
- `Reads` is where a request's reads run. GET and HEAD requests (safe methods: nothing to write) read on a
  connection of the read pool (`ReadPool`): autocommit, so no BEGIN/COMMIT round trips, and read-only at the
  server (`default_transaction_read_only`), so a GET handler that tries to write fails loudly in the tests.
  Other requests, and handler tests, read through the request's own `AsyncSession` connection: inside the
  transaction, so a handler sees what it wrote.
- `timestamp` columns (Prisma's `DateTime`, UTC without a zone) come back as aware UTC datetimes, as the ORM's
  `UtcDateTime` gives them, on every connection of both pools (`register_utc_timestamps`).
"""

from __future__ import annotations

import asyncio
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestampLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from halolight.db.gate import DatabaseGate

Connection = psycopg.AsyncConnection[Any]

# Tests and the benchmark's EXPLAIN watch what is sent: each listener gets every statement's SQL text and
# parameters.
STATEMENT_LISTENERS: list[Callable[[str, Mapping[str, Any]], None]] = []

_DIALECT = PGDialectAsync_psycopg(paramstyle="pyformat")  # type: ignore[no-untyped-call]


_TIMESTAMP_OID = psycopg.adapters.types["timestamp"].oid
# psycopg's own loader (its C version with psycopg-binary, which cannot be subclassed): wrapped, about 3×
# faster than subclassing the pure-Python one.
_TIMESTAMP_LOADER = psycopg.adapters.get_loader(_TIMESTAMP_OID, Format.TEXT) or TimestampLoader


class _UtcTimestampLoader(Loader):
    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._naive = _TIMESTAMP_LOADER(oid, context)

    def load(self, data: Buffer) -> datetime:
        value: datetime = self._naive.load(data)
        return value.replace(tzinfo=UTC)


def register_utc_timestamps(connection: psycopg.AsyncConnection[Any] | psycopg.Connection[Any]) -> None:
    """`timestamp without time zone` holds UTC here (the Prisma schema's convention): load it as aware UTC."""
    connection.adapters.register_loader("timestamp", _UtcTimestampLoader)


@dataclass(frozen=True)
class _Shape:
    """A statement compiled for psycopg: its SQL, its parameters' conversions and the type of its rows."""

    sql: bytes
    compiled: SQLCompiler
    processors: Mapping[str, Callable[[Any], Any]]
    row_factory: Callable[[Any], Callable[[Sequence[Any]], Any]]


def _shape(statement: ClauseElement, **compile_options: Any) -> _Shape:
    compiled = statement.compile(dialect=_DIALECT, **compile_options)
    assert isinstance(compiled, SQLCompiler)
    if compiled.literal_execute_params or compiled.post_compile_params:
        # Expanding IN lists are rendered per call by SQLAlchemy; here use `= ANY(:array)` instead.
        raise ValueError("a fast statement cannot hold expanding parameters; use `= ANY(:array)`")
    # Rows are named tuples (attribute access, as SQLAlchemy's `Row`) of a type made once per statement, so
    # psycopg need not build one from each result's description.
    row_type = namedtuple("Row", [column[0] for column in compiled._result_columns], rename=True)  # type: ignore[misc]
    return _Shape(str(compiled).encode(), compiled, _processors(compiled), lambda _cursor: row_type._make)


class Statement:
    """A Core statement compiled once; `rows`, `first` and `scalar` run it on a psycopg connection."""

    def __init__(self, statement: ClauseElement) -> None:
        self._shape = _shape(statement)
        compiled = self._shape.compiled
        defaults = {
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if bind.value is not None or bind.callable is not None
        }
        self._required = frozenset(compiled.bind_names.values()) - frozenset(defaults)
        self._defaults = {name: self._processed(name, value) for name, value in defaults.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """The names of its rows' columns, as the rows expose them (a column's label, else its SQL name)."""
        return tuple(column[0] for column in self._shape.compiled._result_columns)

    def _params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        missing = self._required - params.keys()
        if missing:
            raise TypeError(f"missing statement parameters: {sorted(missing)}")
        values = dict(self._defaults)
        for name, value in params.items():
            values[name] = self._processed(name, value)
        return values

    def _processed(self, name: str, value: Any) -> Any:
        processor = self._shape.processors.get(name)
        return value if processor is None else processor(value)

    async def _execute(self, reads: Reads, params: Mapping[str, Any]) -> psycopg.AsyncCursor[Any]:
        return await _run(reads, self._shape, self._params(params))

    async def rows(self, reads: Reads, **params: Any) -> list[Any]:
        return await (await self._execute(reads, params)).fetchall()

    async def first(self, reads: Reads, **params: Any) -> Any | None:
        return await (await self._execute(reads, params)).fetchone()

    async def scalar(self, reads: Reads, **params: Any) -> Any:
        row = await self.first(reads, **params)
        return None if row is None else row[0]


# Queries built per request (filters, search, paging) are compiled once per shape, as SQLAlchemy's own
# compiled cache does: keyed on the statement's cache key (its structure), values extracted per call.
_COMPILED: dict[Any, _Shape] = {}
_COMPILED_MAX = 500


def _compiled(query: ClauseElement) -> tuple[_Shape, Mapping[str, Any]]:
    key = query._generate_cache_key()
    if key is None:  # a construct SQLAlchemy cannot cache: compile it each time
        statement = Statement(query)
        return statement._shape, statement._params({})
    shape = _COMPILED.get(key.key)
    if shape is None:
        shape = _shape(query, cache_key=key)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key.key] = shape
    params = shape.compiled.construct_params(extracted_parameters=key.bindparams)
    for name, processor in shape.processors.items():
        params[name] = processor(params[name])
    return shape, params


async def _run(reads: Reads, shape: _Shape, params: Mapping[str, Any]) -> psycopg.AsyncCursor[Any]:
    connection = await reads.connection()
    if STATEMENT_LISTENERS:
        text = shape.sql.decode()
        for listener in STATEMENT_LISTENERS:
            listener(text, params)
    cursor = connection.cursor(row_factory=shape.row_factory)
    return await cursor.execute(shape.sql, params)


async def fetch_all(reads: Reads, query: ClauseElement) -> list[Any]:
    """All rows of a Core query built for this request (see `_compiled`)."""
    shape, params = _compiled(query)
    return await (await _run(reads, shape, params)).fetchall()


async def fetch_scalar(reads: Reads, query: ClauseElement) -> Any:
    """The first column of the first row of a Core query built for this request, or None."""
    shape, params = _compiled(query)
    row = await (await _run(reads, shape, params)).fetchone()
    return None if row is None else row[0]


def _processors(compiled: SQLCompiler) -> dict[str, Callable[[Any], Any]]:
    """The column types' own conversions (enums by name, aware datetimes to naive UTC, JSON), as SQLAlchemy
    applies them when it executes a statement itself."""
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, processor in compiled._bind_processors.items():
        assert callable(processor)  # a sequence only for tuple-IN parameters, refused by the callers
        processors[name] = processor
    return processors


class Reads(Protocol):
    """Where a request's reads run (see the module's docstring)."""

    async def connection(self) -> Connection: ...


class SessionReads:
    """Reads inside the session's transaction: they see what the request wrote before them."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def connection(self) -> Connection:
        connection = await (await self._db.connection()).get_raw_connection()
        driver = connection.driver_connection
        assert driver is not None  # a checked-out connection always has its driver connection
        return driver  # type: ignore[no-any-return]


class ReadPool:
    """Read-only autocommit connections for safe requests, one per request while it runs."""

    def __init__(
        self,
        conninfo: str,
        *,
        size: int,
        options: str,
        connect_kwargs: Mapping[str, Any],
        connect_timeout_s: float,
        gate: DatabaseGate | None = None,
    ) -> None:
        async def configure(connection: Connection) -> None:
            register_utc_timestamps(connection)

        self._gate = gate
        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            open=False,
            # A request waits for a connection at most as long as opening one may take (the pool opens them
            # in the background and retries). With a gate, a failed attempt ends the wait at once instead.
            timeout=connect_timeout_s,
            connection_class=AsyncConnection if gate is None else _gated_connection_class(gate),
            # After a failed attempt the pool retries with a growing delay (1 s, 2 s, 4 s, ...); give up
            # after a second instead, so that once the database is back the next request that needs a
            # connection has one opened at once, not after the rest of a long delay.
            reconnect_timeout=1.0 if gate is not None else 300.0,
            max_idle=300,
            max_lifetime=3600,
            configure=configure,
            kwargs={
                "autocommit": True,
                "options": options + " -c default_transaction_read_only=on",
                **connect_kwargs,
            },
            name="reads",
        )
        self._opened = False
        # Told the checked-out and open connection counts after each change (metrics.watch_read_pool).
        self.on_change: Callable[[int, int], None] | None = None
        self._checked_out = 0

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self._checked_out, self._pool.get_stats().get("pool_size", 0))

    async def _open(self) -> None:
        if not self._opened:
            self._opened = True
            await self._pool.open()

    async def getconn(self) -> Connection:
        await self._open()
        gate = self._gate
        if gate is None:
            connection = await self._pool.getconn()
        else:
            if gate.down:
                # A PoolTimeout, as when no connection can be had: authentication does not retry it.
                raise PoolTimeout("the database is unreachable; the last connection attempt failed")
            try:
                async with asyncio.timeout(None) as wait:
                    with gate.abandoned_when_down(wait):
                        connection = await self._pool.getconn()
            except TimeoutError:
                # An attempt to connect failed while this request waited: not worth the rest of the wait.
                raise PoolTimeout("the database is unreachable; a connection attempt failed") from None
        self._checked_out += 1
        self._changed()
        return connection

    async def putconn(self, connection: Connection) -> None:
        self._checked_out -= 1
        await self._pool.putconn(connection)
        self._changed()

    async def discard_broken(self) -> None:
        """After a connection the server dropped: test the idle ones (one round trip each, only now)."""
        await self._pool.check()

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()


def _gated_connection_class(gate: DatabaseGate) -> type[Connection]:
    """The read pool's connections, opened through `gate` (the pool opens them in its background tasks)."""

    class GatedConnection(AsyncConnection):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> GatedConnection:
            return await gate.connect(lambda: super(GatedConnection, cls).connect(conninfo, **kwargs))

    return GatedConnection


class PoolReads:
    """One connection of the read pool, taken at the first read and given back by `release`."""

    def __init__(self, pool: ReadPool) -> None:
        self._pool = pool
        self._connection: Connection | None = None

    async def connection(self) -> Connection:
        if self._connection is None:
            self._connection = await self._pool.getconn()
        return self._connection

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._pool.putconn(connection)

    async def retry_on_fresh_connection(self) -> None:
        """Drop the current connection (the server closed it) and the idle ones that died with it."""
        await self.release()
        await self._pool.discard_broken()
