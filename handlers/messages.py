"""Operations of the Messages tag: conversations the caller takes part in (404 otherwise) and their messages.

A send into a conversation, or to a user (their direct conversation, opened once), adds one to every other
participant's unread count, notifies those for whom the conversation just became unread (one notification
per unread stretch, not one per message: a busy chat does not bury the other notifications), and queues a
live `message` event for every participant.
"""

from __future__ import annotations

from typing import Any

from pydantic import MISSING

from generated import models
from halolight import authz
from halolight.context import AuthContext
from halolight.db.models import User
from halolight.errors import NotFound, UnknownReference, ValidationFailed
from halolight.events import outbox
from halolight.repositories import messages, notifications
from halolight.repositories.paging import cursor_key

NOT_FOUND = "Conversation not found"
_PREVIEW = 100  # characters of a message shown in its notification


async def list_conversations(
    ctx: AuthContext, *, cursor: str | None, limit: int
) -> models.MessageConversationList:
    page = await messages.conversations_page(
        ctx.reads,
        ctx.user_id,
        limit=limit,
        cursor=cursor,
        key=cursor_key(ctx.runtime.settings.jwt_secret_key),
    )
    return models.MessageConversationList(
        data=[_conversation(ctx, row) for row in page.items],
        meta=models.CursorPageMeta(limit=page.limit, nextCursor=page.next_cursor),
    )


async def list_conversation_messages(
    ctx: AuthContext, *, id: str, cursor: str | None, limit: int
) -> models.MessageList:
    visible, hidden_at = await messages.visible_since(ctx.reads, ctx.user_id, id)
    if not visible:
        raise NotFound(NOT_FOUND)
    page = await messages.messages_page(
        ctx.reads,
        ctx.user_id,
        id,
        hidden_at=hidden_at,
        limit=limit,
        cursor=cursor,
        key=cursor_key(ctx.runtime.settings.jwt_secret_key),
    )
    return models.MessageList(
        data=[_message(ctx, row) for row in page.items],
        meta=models.CursorPageMeta(limit=page.limit, nextCursor=page.next_cursor),
    )


async def delete_conversation(ctx: AuthContext, *, id: str) -> None:
    await _visible_or_404(ctx, id)
    await messages.hide(ctx.db, ctx.user_id, id)
    await notifications.emit_unread(ctx.db, [ctx.user_id])


async def mark_conversation_read(ctx: AuthContext, *, id: str) -> models.MessageConversation:
    await _visible_or_404(ctx, id)
    await messages.mark_read(ctx.db, ctx.user_id, id)
    await notifications.emit_unread(ctx.db, [ctx.user_id])
    row = await messages.conversation(ctx.reads, ctx.user_id, id)
    assert row is not None  # seen above, in this transaction
    return _conversation(ctx, row)


async def send_message(ctx: AuthContext, *, body: models.MessageCreate) -> models.MessageItem:
    content = body.content
    conversation_id = await _target(ctx, body)
    message = await messages.add_message(
        ctx.db, conversation_id=conversation_id, sender_id=ctx.user_id, content=content
    )
    counts = await messages.count_unread(ctx.db, conversation_id, ctx.user_id)
    sender = await messages.person(ctx.db, ctx.user_id)
    name = sender.name
    item = models.MessageItem(
        id=message.id,
        conversationId=conversation_id,
        content=content,
        sender=models.UserSummary(id=ctx.user_id, name=name, email=sender.email, avatar=sender.avatar),
        isRead=False,
        createdAt=message.created_at,
    )
    # Each participant's stream gets the message; the email only in the sender's own copy (the others'
    # permissions are not known here, and an email is contact data).
    others = item.model_copy(update={"sender": item.sender.model_copy(update={"email": None})})
    outbox.emit(
        ctx.db,
        "message",
        {
            user_id: (item if user_id == ctx.user_id else others).model_dump(mode="json")
            for user_id in [ctx.user_id, *counts]
        },
    )
    newly_unread = [user_id for user_id, count in counts.items() if count == 1]
    await notifications.notify(
        ctx.db,
        newly_unread,
        type="message",
        title=f"New message from {name}",
        content=content[:_PREVIEW],
        link=f"/messages?conversationId={conversation_id}",
        payload={"conversationId": conversation_id, "messageId": message.id, "senderId": ctx.user_id},
    )
    # notify() sent the new counts of those it notified; the others' message count changed too.
    await notifications.emit_unread(ctx.db, [user_id for user_id in counts if user_id not in newly_unread])
    return item


# --- Rules ------------------------------------------------------------------------------------------------


async def _visible_or_404(ctx: AuthContext, conversation_id: str) -> None:
    visible, _ = await messages.visible_since(ctx.reads, ctx.user_id, conversation_id)
    if not visible:
        raise NotFound(NOT_FOUND)


async def _target(ctx: AuthContext, body: Any) -> str:
    """The conversation a send goes to: the one named (the caller's), or the direct one with the
    recipient (a user the caller can see, not the caller)."""
    conversation_id = None if body.conversationId is MISSING else body.conversationId
    recipient_id = None if body.recipientId is MISSING else body.recipientId
    if (conversation_id is None) == (recipient_id is None):
        raise ValidationFailed(("body",), "Name exactly one of conversationId and recipientId")
    if conversation_id is not None:
        visible, _ = await messages.visible_since(ctx.reads, ctx.user_id, conversation_id)
        if not visible:
            raise UnknownReference("conversationId", "Conversation")
        return str(conversation_id)
    assert recipient_id is not None
    if recipient_id == ctx.user_id:
        raise ValidationFailed(("body", "recipientId"), "You cannot message yourself", "self_reference")
    await authz.referenced(ctx, User, "recipientId", [recipient_id])
    return await messages.direct_conversation(ctx.db, ctx.user_id, recipient_id)


def _summary(
    ctx: AuthContext, user_id: str, name: str, email: str | None, avatar: str | None
) -> models.UserSummary:
    return models.UserSummary(
        id=user_id, name=name, email=email if authz.sees_email_of(ctx, user_id) else None, avatar=avatar
    )


def _message(ctx: AuthContext, row: Any) -> models.MessageItem:
    return models.MessageItem(
        id=row.id,
        conversationId=row.conversation_id,
        content=row.content,
        sender=_summary(ctx, row.sender_id, row.sender_name, row.sender_email, row.sender_avatar),
        isRead=bool(row.is_read),
        createdAt=row.created_at,
    )


def _conversation(ctx: AuthContext, row: Any) -> models.MessageConversation:
    last = None
    if row.last_id is not None:
        last = models.MessageItem(
            id=row.last_id,
            conversationId=row.id,
            content=row.last_content,
            sender=_summary(
                ctx, row.last_sender_id, row.last_sender_name, row.last_sender_email, row.last_sender_avatar
            ),
            isRead=bool(row.last_is_read),
            createdAt=row.last_created_at,
        )
    return models.MessageConversation(
        id=row.id,
        name=row.name,
        isGroup=row.is_group,
        participants=[
            _summary(ctx, p["id"], p["name"], p["email"], p["avatar"]) for p in row.participants or []
        ],
        lastMessage=last,
        unreadCount=row.unread_count,
        createdAt=row.created_at,
        updatedAt=row.updated_at,
    )
