"""Whether the database can be reached: both pools ask before they connect, so an outage is a 503 at once.

Without it, the read pool (psycopg_pool) keeps a request waiting for its whole checkout timeout while it
retries connecting in the background (6 s by default), and every request of an outage waits that long.
Instead, every connection attempt of either pool (the read pool's, and the SQLAlchemy engine's) goes through
`DatabaseGate.connect`:

- a failed attempt (`psycopg.OperationalError`: refused, unreachable, timed out, "too many clients", shutting
  down) closes the gate: requests waiting for a read-pool connection are woken and answered 503 at once, and
  until the database answers again no request tries to connect, each is answered 503 (`Retry-After`) without
  waiting;
- while it is closed, one probe per process connects every `probe_interval_s` (in the background, with the
  pools' own connect timeout, so a slow but live database is still found); the first success, or any
  successful connection, opens the gate again: the pools connect as before, no restart needed.

Connections already in the pools are not tested here (no pre-ping, see `halolight.db.engine`): one that died
fails on its first statement, and the retry that follows connects, through the gate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")
log = logging.getLogger("halolight.db")

PROBE_INTERVAL_S = 1.0


class DatabaseUnavailable(psycopg.OperationalError):
    """The gate is closed: the database did not answer the last connection attempt."""


class DatabaseGate:
    def __init__(
        self,
        probe: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
        probe_interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self._probe_connect = probe
        self.probe_interval_s = probe_interval_s
        self.down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None
        self._waits: set[asyncio.Timeout] = set()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def refuse_while_down(self) -> None:
        if self.down_since is not None:
            raise DatabaseUnavailable("the database is unreachable; the last connection attempt failed")

    async def connect(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run one connection attempt of a pool, or refuse it at once while the database is unreachable."""
        self.refuse_while_down()
        try:
            connection = await attempt()
        except psycopg.OperationalError as error:
            self.failed(error)
            raise
        self.reachable()
        return connection

    @contextmanager
    def abandoned_when_down(self, wait: asyncio.Timeout) -> Iterator[None]:
        """Within this block, `wait` (an `asyncio.timeout`) expires as soon as an attempt fails."""
        self._waits.add(wait)
        try:
            yield
        finally:
            self._waits.discard(wait)

    def failed(self, error: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error(
                "database unreachable (%s); answering 503 until it is back, checking every %.1f s",
                error,
                self.probe_interval_s,
            )
        now = asyncio.get_running_loop().time()
        for wait in list(self._waits):
            if not wait.expired():  # one that already expired is on its way out of its block
                wait.reschedule(now)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_reachable())

    def reachable(self) -> None:
        if self.down_since is not None:
            log.warning("database reachable again after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None

    async def _probe_until_reachable(self) -> None:
        while self.down_since is not None:
            await asyncio.sleep(self.probe_interval_s)
            if self.down_since is None:
                return
            try:
                connection = await self._probe_connect()
            except (psycopg.Error, OSError) as error:
                log.debug("database probe failed: %s", error)
                continue
            await connection.close()
            self.reachable()

    async def close(self) -> None:
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with suppress(asyncio.CancelledError):
                await self._probe
