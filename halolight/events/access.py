"""Who may open a stream, and how many: stream tickets, stream leases and the replay read (all their SQL).

- A ticket (for `EventSource`, which cannot send `Authorization`) is 256 random bits given once; the table
  keeps its SHA-256, bound to the user and session that asked for it. One conditional UPDATE consumes it:
  it works once, before it expires, on any worker or host.
- A lease is one open stream. Opening one takes a transaction-level advisory lock on the user (two opens of
  the same user queue; different users do not) and inserts only while fewer than the limit are live; the
  worker holding the stream renews it (halolight/events/hub.py), so a crashed worker's leases run out.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import StreamEvent, StreamLease, StreamTicket
from halolight.db.types import new_id, utcnow
from halolight.events.hub import LEASE_TTL_S


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue_ticket(
    db: AsyncSession, *, user_id: str, session_id: str, lifetime_s: int
) -> tuple[str, datetime]:
    ticket = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=lifetime_s)
    await db.execute(
        insert(StreamTicket).values(
            token_hash=_hash(ticket), user_id=user_id, session_id=session_id, expires_at=expires_at
        )
    )
    return ticket, expires_at


async def consume_ticket(db: AsyncSession, ticket: str) -> tuple[str, str] | None:
    """(user id, session id) of an unused, unexpired ticket, now used; None otherwise."""
    now = utcnow()
    row = (
        await db.execute(
            update(StreamTicket)
            .where(
                StreamTicket.token_hash == _hash(ticket),
                StreamTicket.used_at.is_(None),
                StreamTicket.expires_at > now,
            )
            .values(used_at=now)
            .returning(StreamTicket.user_id, StreamTicket.session_id)
        )
    ).first()
    return (row.user_id, row.session_id) if row is not None else None


_LOCK_USER = text("SELECT pg_advisory_xact_lock(hashtextextended('halolight-stream-lease:' || :user_id, 0))")


async def open_lease(db: AsyncSession, user_id: str, limit: int) -> str | None:
    """A lease for one more stream of `user_id`, or None when `limit` are already live."""
    await db.execute(_LOCK_USER, {"user_id": user_id})
    now = utcnow()
    live = (
        select(func.count())
        .select_from(StreamLease)
        .where(StreamLease.user_id == user_id, StreamLease.expires_at > now)
        .scalar_subquery()
    )
    lease_id = new_id()
    chosen = select(
        literal(lease_id),
        literal(user_id),
        literal(now + timedelta(seconds=LEASE_TTL_S), StreamLease.expires_at.type),
    ).where(live < bindparam("limit", limit))
    inserted = await db.execute(
        insert(StreamLease)
        .from_select([StreamLease.id, StreamLease.user_id, StreamLease.expires_at], chosen)
        .returning(StreamLease.id)
    )
    return inserted.scalar()


async def replay(db: AsyncSession, user_id: str, after: int, limit: int) -> Sequence[Any]:
    """`user_id`'s events after id `after`, oldest first, at most `limit` (+1 to tell there are more)."""
    rows = await db.execute(
        select(StreamEvent.id, StreamEvent.type, StreamEvent.data)
        .where(StreamEvent.user_id == user_id, StreamEvent.id > after)
        .order_by(StreamEvent.id)
        .limit(limit + 1)
    )
    return rows.all()


async def latest_id(db: AsyncSession, user_id: str) -> int:
    """The id of `user_id`'s newest event (0 without any): where a stream without Last-Event-ID starts."""
    found = await db.scalar(select(func.max(StreamEvent.id)).where(StreamEvent.user_id == user_id))
    return int(found or 0)
