"""The writing side of live updates: queue events on the session, write and announce them at commit.

Why a queue and one flush: the flush takes a transaction-level advisory lock per recipient (sorted, in one
statement) before it draws the rows' ids. A second transaction writing to the same recipient waits until the
first has committed, so one recipient's ids are drawn in commit order, and replaying `id > Last-Event-ID`
cannot skip an event that committed late with a lower id. Taking every lock in one sorted statement, at the
very end of the transaction, is also what keeps two such transactions from deadlocking.

The NOTIFY payload names the new rows (`[[id, userId], ...]`, split to stay far below PostgreSQL's 8000-byte
limit); listeners read the rows themselves, so an event's size is not limited by the payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from halolight.db.models import StreamEvent

CHANNEL = "halolight_events"
# Sessions revoked or users disabled: the hubs check their streams' sessions at once (hub.py).
SESSIONS_CHANNEL = "halolight_sessions"
_QUEUE = "halolight.stream_events"
_SESSIONS_CHANGED = "halolight.sessions_changed"
# [id, userId] pairs per NOTIFY: an id and a cuid take under 50 bytes, so 100 stay under 5000.
PAIRS_PER_NOTIFY = 100

_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('halolight-stream:' || u, 0))"
    " FROM (SELECT u FROM unnest(:users) AS u ORDER BY u OFFSET 0) AS sorted"
).bindparams(bindparam("users", type_=ARRAY(Text)))
_INSERT = insert(StreamEvent).returning(StreamEvent.id, StreamEvent.user_id)
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def emit(db: AsyncSession, type: str, data_by_user: Mapping[str, Mapping[str, Any]]) -> None:
    """Queue one `type` event per recipient (`data` is what their stream receives), written at commit."""
    queue: list[tuple[str, str, Mapping[str, Any]]] = db.info.setdefault(_QUEUE, [])
    queue.extend((user_id, type, data) for user_id, data in data_by_user.items())


def discard(db: AsyncSession) -> None:
    """Forget the queued events (the transaction rolled back)."""
    db.info.pop(_QUEUE, None)
    db.info.pop(_SESSIONS_CHANGED, None)


def sessions_changed(db: AsyncSession) -> None:
    """Sessions were revoked (or users disabled) in this transaction: at commit, tell every hub to check
    its streams' sessions at once (`NOTIFY halolight_sessions`) instead of at its next periodic check."""
    db.info[_SESSIONS_CHANGED] = True


async def flush(db: AsyncSession) -> None:
    """Write the queued events and announce them, in the session's open transaction (no-op when none)."""
    if db.info.pop(_SESSIONS_CHANGED, False):
        await db.execute(_NOTIFY, {"channel": SESSIONS_CHANNEL, "payload": ""})
    queue: list[tuple[str, str, Mapping[str, Any]]] = db.info.pop(_QUEUE, [])
    if not queue:
        return
    await db.execute(_LOCK, {"users": sorted({user_id for user_id, _, _ in queue})})
    rows = (
        await db.execute(
            _INSERT, [{"user_id": user_id, "type": type, "data": dict(data)} for user_id, type, data in queue]
        )
    ).all()
    pairs = [[row.id, row.user_id] for row in rows]
    for start in range(0, len(pairs), PAIRS_PER_NOTIFY):
        payload = json.dumps(pairs[start : start + PAIRS_PER_NOTIFY], separators=(",", ":"))
        await db.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


__all__ = ["CHANNEL", "SESSIONS_CHANNEL", "discard", "emit", "flush", "sessions_changed"]
