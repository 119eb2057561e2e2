"""Notifications (`notifications`): the one place that writes them, and the Notifications tag's SQL.

`notify` is called by the operations whose change concerns someone else (a document, file or share given to
them, being added to a team or an event, a new message, a password change or reset), inside that change's
transaction: a notification exists exactly when its cause committed. Each new row is also queued as a
live-update event (halolight/events/outbox.py) for the recipient's open streams.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Notification
from halolight.db.types import new_id
from halolight.events import outbox

_INSERT = insert(Notification).returning(
    Notification.id,
    Notification.user_id,
    Notification.type,
    Notification.title,
    Notification.content,
    Notification.link,
    Notification.payload,
    Notification.read,
    Notification.created_at,
)


def as_event(row: Any) -> dict[str, Any]:
    """A notification as the stream sends it: the Notification schema's fields."""
    return {
        "id": row.id,
        "type": row.type,
        "title": row.title,
        "content": row.content,
        "link": row.link,
        "payload": row.payload,
        "read": row.read,
        "createdAt": row.created_at.isoformat().replace("+00:00", "Z"),
    }


async def notify(
    db: AsyncSession,
    recipients: Iterable[str],
    *,
    type: str,
    title: str,
    content: str,
    link: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """One notification per distinct recipient, in one statement, in the caller's transaction; each is also
    announced to the recipient's live-update streams when the transaction commits."""
    users = sorted(set(recipients))
    if not users:
        return
    values = [
        {
            "id": new_id(),
            "user_id": user,
            "type": type,
            "title": title,
            "content": content,
            "link": link,
            "payload": payload,
        }
        for user in users
    ]
    rows = (await db.execute(_INSERT, values)).all()
    outbox.emit(db, "notification", {row.user_id: as_event(row) for row in rows})
