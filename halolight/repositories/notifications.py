"""Notifications (`notifications`): the one place that writes them, and the Notifications tag's SQL.

`notify` is called by the operations whose change concerns someone else (a document, file or share given to
them, being added to a team or an event, a new message, a password change or reset), inside that change's
transaction: a notification exists exactly when its cause committed. Each new row is also queued as a
live-update event (halolight/events/outbox.py) for the recipient's open streams, with the recipient's new
unread counts (`emit_unread`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from halolight.db.models import File, Notification, TeamMember
from halolight.db.reads import Reads, Statement
from halolight.db.types import new_id, utcnow
from halolight.events import outbox
from halolight.repositories.paging import CursorPage, Keyset, keyset_page

_COLUMNS = (
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
_INSERT = insert(Notification).returning(*_COLUMNS)

# Newest first; served by halolight_notifications_user_newest ("userId", "createdAt" DESC, id DESC).
NEWEST_FIRST = Keyset.desc("notifications", Notification.created_at, Notification.id)


def as_event(row: Any) -> dict[str, Any]:
    """A notification as the API shows it (the `Notification` schema's fields), in lists and in the stream."""
    return {
        "id": row.id,
        "type": row.type,
        "title": row.title,
        "message": row.content,
        "link": row.link,
        "payload": row.payload,
        "isRead": row.read,
        "createdAt": row.created_at.isoformat().replace("+00:00", "Z"),
    }


# --- Unread counts, as the stream's `unread` events carry them ---------------------------------------------

_UNREAD_COUNTS = text(
    "SELECT u AS user_id,"
    ' (SELECT count(*) FROM notifications n WHERE n."userId" = u AND NOT n.read) AS notifications,'
    ' (SELECT coalesce(sum(p."unreadCount"), 0)::int FROM conversation_participants p WHERE p."userId" = u)'
    " AS messages"
    " FROM unnest(:users) AS u"
).bindparams(bindparam("users", type_=ARRAY(Text)))


async def emit_unread(db: AsyncSession, users: Iterable[str]) -> None:
    """Queue an `unread` event for each of `users` with their absolute unread counts (notifications, and
    messages summed over their conversations), read in one statement in the caller's transaction, so the
    figures include the change being made."""
    wanted = sorted(set(users))
    if not wanted:
        return
    rows = (await db.execute(_UNREAD_COUNTS, {"users": wanted})).all()
    outbox.emit(
        db,
        "unread",
        {row.user_id: {"notifications": row.notifications, "messages": row.messages} for row in rows},
    )


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
    announced to the recipient's live-update streams when the transaction commits, with their new unread
    counts."""
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
    await emit_unread(db, users)


async def team_member_ids(db: AsyncSession, team_id: str) -> list[str]:
    """Who a team-wide share concerns: the team's members (its owner is one)."""
    return list((await db.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team_id))).all())


async def file_name(db: AsyncSession, file_id: str) -> str:
    """What a file-share notification names."""
    return str(await db.scalar(select(File.name).where(File.id == file_id)))


# --- The Notifications tag -------------------------------------------------------------------------------

_UNREAD_COUNT = Statement(
    select(func.count()).where(Notification.user_id == bindparam("user_id"), Notification.read.is_(False))
)


async def list_page(
    db: AsyncSession, user_id: str, *, unread: bool, limit: int, cursor: str | None, key: bytes
) -> CursorPage[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread:
        query = query.where(Notification.read.is_(False))
    return await keyset_page(
        db, query, NEWEST_FIRST, limit=limit, cursor=cursor, key=key, within="unread" if unread else "all"
    )


async def unread_count(reads: Reads, user_id: str) -> int:
    count: int = await _UNREAD_COUNT.scalar(reads, user_id=user_id) or 0
    return count


async def mark_read(db: AsyncSession, user_id: str, notification_id: str) -> Any | None:
    """The caller's notification, read (its first `readAt` kept); None when it is not theirs."""
    row = (
        await db.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id)
            .values(read=True, read_at=func.coalesce(Notification.read_at, utcnow()))
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is not None:
        await emit_unread(db, [user_id])
    return row


async def mark_all_read(db: AsyncSession, user_id: str) -> int:
    """How many of the caller's unread notifications were marked read."""
    ids = (
        await db.scalars(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read.is_(False))
            .values(read=True, read_at=utcnow())
            .returning(Notification.id)
        )
    ).all()
    if ids:
        await emit_unread(db, [user_id])
    return len(ids)


async def delete_own(db: AsyncSession, user_id: str, notification_id: str) -> bool:
    """Delete the caller's notification; False when it is not theirs."""
    was_read = (
        await db.execute(
            delete(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id)
            .returning(Notification.read)
        )
    ).scalar_one_or_none()
    if was_read is None:
        return False
    if not was_read:
        await emit_unread(db, [user_id])
    return True
