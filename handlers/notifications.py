"""Operations of the Notifications tag: the caller's own notifications, nobody else's (404)."""

from __future__ import annotations

from typing import Any

from generated import models
from halolight.context import AuthContext
from halolight.errors import NotFound
from halolight.repositories import notifications
from halolight.repositories.paging import cursor_key

NOT_FOUND = "Notification not found"


def _notification(row: Any) -> models.Notification:
    return models.Notification.model_validate(notifications.as_event(row))


async def list_notifications(
    ctx: AuthContext, *, cursor: str | None, limit: int, unread: bool | None
) -> models.NotificationList:
    page = await notifications.list_page(
        ctx.db,
        ctx.user_id,
        unread=bool(unread),
        limit=limit,
        cursor=cursor,
        key=cursor_key(ctx.runtime.settings.jwt_secret_key),
    )
    return models.NotificationList(
        data=[_notification(row) for row in page.items],
        meta=models.CursorPageMeta(limit=page.limit, nextCursor=page.next_cursor),
    )


async def get_unread_notification_count(ctx: AuthContext) -> models.NotificationUnreadCount:
    return models.NotificationUnreadCount(count=await notifications.unread_count(ctx.reads, ctx.user_id))


async def mark_all_notifications_read(ctx: AuthContext) -> models.NotificationReadAllResult:
    count = await notifications.mark_all_read(ctx.db, ctx.user_id)
    return models.NotificationReadAllResult(message=f"Marked {count} notifications read", count=count)


async def mark_notification_read(ctx: AuthContext, *, id: str) -> models.Notification:
    row = await notifications.mark_read(ctx.db, ctx.user_id, id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return _notification(row)


async def delete_notification(ctx: AuthContext, *, id: str) -> None:
    if not await notifications.delete_own(ctx.db, ctx.user_id, id):
        raise NotFound(NOT_FOUND)
