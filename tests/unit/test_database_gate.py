"""The database gate (halolight/db/gate.py) on its own: closed by a failed attempt, waits abandoned, reopened
by its probe or by any connection that succeeds. `tests/api/test_database_outage.py` drives it through the
app with a real outage."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from halolight.db.gate import DatabaseGate, DatabaseUnavailable


class FakeDatabase:
    def __init__(self) -> None:
        self.up = True
        self.attempts = 0

    async def connect(self) -> Any:
        self.attempts += 1
        if not self.up:
            raise psycopg.OperationalError("connection refused")
        return FakeConnection()


class FakeConnection:
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_failed_attempt_closes_the_gate_and_abandons_the_waits() -> None:
    database = FakeDatabase()
    gate = DatabaseGate(database.connect, probe_interval_s=3600)
    assert isinstance(await gate.connect(database.connect), FakeConnection)

    async def waiting() -> None:
        async with asyncio.timeout(None) as wait:
            with gate.abandoned_when_down(wait):
                await asyncio.sleep(3600)  # a request waiting for a pool's connection

    waiters = [asyncio.create_task(waiting()) for _ in range(3)]
    await asyncio.sleep(0)
    database.up = False
    with pytest.raises(psycopg.OperationalError):
        await gate.connect(database.connect)
    await asyncio.sleep(0)  # the waits have expired, their tasks not yet left their blocks
    gate.failed(psycopg.OperationalError("another failure at that moment"))  # no error, no second wake-up
    results = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), timeout=5)
    assert all(isinstance(result, TimeoutError) for result in results), results
    assert gate.down
    # Closed: no attempt is made, the refusal is immediate.
    attempts = database.attempts
    with pytest.raises(DatabaseUnavailable):
        await gate.connect(database.connect)
    with pytest.raises(DatabaseUnavailable):
        gate.refuse_while_down()
    assert database.attempts == attempts
    await gate.close()


async def test_the_probe_reopens_the_gate_when_the_database_is_back() -> None:
    database = FakeDatabase()
    database.up = False
    gate = DatabaseGate(database.connect, probe_interval_s=0.05)
    with pytest.raises(psycopg.OperationalError):
        await gate.connect(database.connect)
    await asyncio.sleep(0.3)
    assert gate.down and database.attempts >= 3  # it keeps probing while the database is down
    database.up = True
    for _ in range(100):
        if not gate.down:
            break
        await asyncio.sleep(0.05)
    assert not gate.down
    attempts = database.attempts
    await asyncio.sleep(0.3)
    assert database.attempts == attempts  # and stops once it is back
    assert isinstance(await gate.connect(database.connect), FakeConnection)
    await gate.close()


async def test_any_successful_connection_reopens_it() -> None:
    database = FakeDatabase()
    gate = DatabaseGate(database.connect, probe_interval_s=3600)
    gate.failed(psycopg.OperationalError("refused"))
    assert gate.down
    gate.reachable()  # e.g. a connection attempt that began before the failure, and succeeded
    assert not gate.down
    await gate.close()
