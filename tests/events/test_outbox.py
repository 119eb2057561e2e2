"""The writing side of live updates (halolight/events/outbox.py): events are written and announced with the
transaction that causes them, never without it, and one recipient's ids follow commit order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from halolight.db.engine import create_engine
from halolight.db.models import Notification, StreamEvent
from halolight.events import outbox
from halolight.repositories.notifications import notify
from halolight.settings import Settings
from tests.api.helpers import register


@pytest.fixture
async def engine(settings: Settings, database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[list[Any]]:
    """Every NOTIFY on the outbox channel, as parsed payloads, received by a connection of its own."""
    received: list[Any] = []
    url = database_url.replace("postgresql+psycopg://", "postgresql://").replace("+asyncpg", "")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"LISTEN {outbox.CHANNEL}")

        async def collect() -> None:
            async for note in conn.notifies():
                received.append(json.loads(note.payload))

        task = asyncio.create_task(collect())
        yield received
        task.cancel()


async def _user(client: httpx.AsyncClient) -> str:
    user_id: str = (await register(client))["user"]["id"]
    return user_id


async def _wait_for(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_events_are_written_and_announced_at_commit(
    client: httpx.AsyncClient, engine: AsyncEngine, listener: list[Any]
) -> None:
    alice, bob = await _user(client), await _user(client)
    async with AsyncSession(engine) as db, db.begin():
        await notify(db, [alice, bob, alice], type="test.hello", title="Hello", content="Hi")
        await outbox.flush(db)
        await asyncio.sleep(0.2)
        assert listener == []  # nothing announced before the commit

    await _wait_for(lambda: listener)
    pairs = [pair for payload in listener for pair in payload]
    # Each recipient: the notification, and their unread counts that it changed.
    assert sorted(user for _, user in pairs) == sorted([alice, alice, bob, bob])
    async with AsyncSession(engine) as db:
        rows = (
            await db.execute(select(StreamEvent).where(StreamEvent.id.in_([i for i, _ in pairs])))
        ).scalars()
        events = {(row.user_id, row.type): row for row in rows}
        notes = {
            n.user_id: n
            for n in (
                await db.execute(select(Notification).where(Notification.user_id.in_([alice, bob])))
            ).scalars()
        }
    assert set(events) == {(user, kind) for user in (alice, bob) for kind in ("notification", "unread")}
    for user in (alice, bob):
        assert events[user, "notification"].data["id"] == notes[user].id
        assert events[user, "notification"].data["title"] == "Hello"
        assert events[user, "unread"].data["notifications"] == 1


async def test_a_rolled_back_transaction_writes_and_announces_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, listener: list[Any]
) -> None:
    alice = await _user(client)
    async with AsyncSession(engine) as db, db.begin():
        await notify(db, [alice], type="test.never", title="Never", content="-")
        await outbox.flush(db)
        await db.rollback()
    await asyncio.sleep(0.3)
    assert listener == []
    async with AsyncSession(engine) as db:
        count = len((await db.execute(select(StreamEvent.id).where(StreamEvent.user_id == alice))).all())
    assert count == 0


async def test_one_recipients_ids_follow_commit_order(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """The first transaction draws its id and stays open; the second, for the same recipient, waits for its
    commit before drawing: no lower id commits after a higher one, so replaying `id > n` loses nothing."""
    alice = await _user(client)
    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        await first.begin()
        outbox.emit(first, "test", {alice: {"n": 1}})
        await outbox.flush(first)

        await second.begin()
        outbox.emit(second, "test", {alice: {"n": 2}})
        waiting = asyncio.create_task(outbox.flush(second))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held by the first transaction's lock on alice
        await first.commit()
        await asyncio.wait_for(waiting, 5)
        await second.commit()

    async with AsyncSession(engine) as db:
        rows = (
            await db.execute(
                select(StreamEvent.data).where(StreamEvent.user_id == alice).order_by(StreamEvent.id)
            )
        ).scalars()
        assert [data["n"] for data in rows] == [1, 2]
