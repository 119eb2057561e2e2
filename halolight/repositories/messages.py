"""Conversations and messages (`conversations`, `conversation_participants`, `messages`, and our
`halolight_conversation_hidden`): all the Messages tag's SQL.

Who sees what: a conversation is seen by its participants, except one who deleted it for themself
(`halolight_conversation_hidden`) and has had no newer message since (`conversations."updatedAt"`, moved by
every send, is later than their `hiddenAt`); the messages they see are those after their `hiddenAt`.

Unread counts live in `conversation_participants."unreadCount"`: a send adds one for every other participant
in one conditional UPDATE (exact under concurrent sends, no read-then-write), reading marks them 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from halolight.db.models import (
    Conversation,
    ConversationActivity,
    ConversationHidden,
    ConversationParticipant,
    Message,
    User,
)
from halolight.db.reads import Reads, Statement
from halolight.db.types import UtcDateTime, new_id, utcnow
from halolight.repositories.paging import CursorPage, Keyset, KeysetStatements

Me = aliased(ConversationParticipant, name="me")
Other = aliased(ConversationParticipant, name="other")
Hidden = aliased(ConversationHidden, name="hidden")
Activity = aliased(ConversationActivity, name="activity")
Sender = aliased(User, name="sender")

# A conversation's messages, newest first: halolight_messages_conversation_newest serves it.
NEWEST_MESSAGES = Keyset.desc("conversation-messages", Message.created_at, Message.id)
# The caller's conversations, newest message first: their participant copy of `updatedAt` (which moves with
# every send), `halolight_conversation_activity` (migration 0016), whose index is this order for one user.
NEWEST_CONVERSATIONS = Keyset.desc(
    "conversations", Activity.activity_at, Activity.conversation_id, names=("activity_at", "id")
)
_NEVER = literal(datetime(1970, 1, 1))


def _visible() -> ColumnElement[bool]:
    """The participant (`Me`, outer-joined to `Hidden`) sees the conversation: never hidden, or a message
    came after."""
    return or_(Hidden.hidden_at.is_(None), Conversation.updated_at > Hidden.hidden_at)


def _is_read(message: Any, me: ColumnElement[str]) -> ColumnElement[bool]:
    """`isRead` for the caller `me`: their own message when every other participant has read past it;
    another's when they have."""
    unread_by_other = exists().where(
        Other.conversation_id == message.conversation_id,
        Other.user_id != message.sender_id,
        or_(Other.last_read_at.is_(None), Other.last_read_at < message.created_at),
    )
    read_by_me = exists().where(
        Other.conversation_id == message.conversation_id,
        Other.user_id == me,
        Other.last_read_at >= message.created_at,
    )
    return case((message.sender_id == me, ~unread_by_other), else_=read_by_me)


def _message_columns(me: ColumnElement[str]) -> list[Any]:
    return [
        Message.id.label("id"),
        Message.conversation_id.label("conversation_id"),
        Message.content.label("content"),
        Message.created_at.label("created_at"),
        Message.sender_id.label("sender_id"),
        Sender.name.label("sender_name"),
        Sender.email.label("sender_email"),
        Sender.avatar.label("sender_avatar"),
        _is_read(Message, me).label("is_read"),
    ]


# --- Reads: compiled once, run on the fast read path (halolight.db.reads) ---------------------------------
#
# Every statement takes the caller as `user_id` (and the conversation as `conversation_id`): built and
# compiled at import, a request only binds its values (building these statements per request cost more
# than running them).

_ME = bindparam("user_id", type_=Text)
_CONVERSATION = bindparam("conversation_id", type_=Text)

_VISIBLE_SINCE = Statement(
    select(Hidden.hidden_at.label("hidden_at"))
    .select_from(Me)
    .join(Conversation, Conversation.id == Me.conversation_id)
    .outerjoin(Hidden, and_(Hidden.conversation_id == Me.conversation_id, Hidden.user_id == Me.user_id))
    .where(Me.conversation_id == _CONVERSATION, Me.user_id == _ME, _visible())
)


async def visible_since(reads: Reads, user_id: str, conversation_id: str) -> tuple[bool, datetime | None]:
    """(whether the caller sees the conversation, the time before which its messages are hidden from them)."""
    row = await _VISIBLE_SINCE.first(reads, user_id=user_id, conversation_id=conversation_id)
    return (row is not None, None if row is None else row.hidden_at)


# A conversation's messages after the caller's `hidden_at` (none hidden when NULL), newest first.
_MESSAGES = KeysetStatements(
    select(*_message_columns(_ME))
    .join(Sender, Sender.id == Message.sender_id)
    .where(
        Message.conversation_id == _CONVERSATION,
        Message.created_at > func.coalesce(bindparam("hidden_at", type_=UtcDateTime()), _NEVER),
    ),
    NEWEST_MESSAGES,
)


async def messages_page(
    reads: Reads,
    user_id: str,
    conversation_id: str,
    *,
    hidden_at: datetime | None,
    limit: int,
    cursor: str | None,
    key: bytes,
) -> CursorPage[Any]:
    return await _MESSAGES.page(
        reads,
        limit=limit,
        cursor=cursor,
        key=key,
        within=conversation_id,
        user_id=user_id,
        conversation_id=conversation_id,
        hidden_at=hidden_at,
    )


def _conversations() -> Select[Any]:
    """The caller's visible conversations, each with its participants (JSON), its newest message the caller
    may see (columns `last_*`, NULL when none) and the caller's unread count: one statement for any page."""
    last = (
        select(*_message_columns(_ME))
        .join(Sender, Sender.id == Message.sender_id)
        .where(
            Message.conversation_id == Conversation.id,
            Message.created_at > func.coalesce(Hidden.hidden_at, _NEVER),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
        .lateral("last")
    )
    participants = (
        select(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_object(
                        "id", User.id, "name", User.name, "email", User.email, "avatar", User.avatar
                    ),
                    Other.joined_at,
                    User.id,
                )
            )
        )
        .select_from(Other)
        .join(User, User.id == Other.user_id)
        .where(Other.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    return (
        select(
            Conversation.id.label("id"),
            Conversation.name.label("name"),
            Conversation.is_group.label("is_group"),
            Conversation.created_at.label("created_at"),
            Conversation.updated_at.label("updated_at"),
            Activity.activity_at.label("activity_at"),
            Me.unread_count.label("unread_count"),
            participants.label("participants"),
            last.c.id.label("last_id"),
            last.c.content.label("last_content"),
            last.c.created_at.label("last_created_at"),
            last.c.sender_id.label("last_sender_id"),
            last.c.sender_name.label("last_sender_name"),
            last.c.sender_email.label("last_sender_email"),
            last.c.sender_avatar.label("last_sender_avatar"),
            last.c.is_read.label("last_is_read"),
        )
        # From the caller's activity rows (their index is the list's order), so that a page reads its own
        # rows only: each joined row, its last message and its participants are probes by key.
        .select_from(Activity)
        .join(Me, and_(Me.conversation_id == Activity.conversation_id, Me.user_id == Activity.user_id))
        .join(Conversation, Conversation.id == Activity.conversation_id)
        .outerjoin(
            Hidden,
            and_(Hidden.conversation_id == Activity.conversation_id, Hidden.user_id == Activity.user_id),
        )
        .outerjoin(last, true())
        .where(
            Activity.user_id == _ME,
            # _visible(), on the activity row's copy of `updatedAt`: decided before the conversation is read.
            or_(Hidden.hidden_at.is_(None), Activity.activity_at > Hidden.hidden_at),
        )
    )


_CONVERSATIONS = KeysetStatements(_conversations(), NEWEST_CONVERSATIONS)
_ONE_CONVERSATION = Statement(_conversations().where(Activity.conversation_id == _CONVERSATION))


async def conversations_page(
    reads: Reads, user_id: str, *, limit: int, cursor: str | None, key: bytes
) -> CursorPage[Any]:
    return await _CONVERSATIONS.page(reads, limit=limit, cursor=cursor, key=key, user_id=user_id)


async def conversation(reads: Reads, user_id: str, conversation_id: str) -> Any | None:
    return await _ONE_CONVERSATION.first(reads, user_id=user_id, conversation_id=conversation_id)


# --- Writes ---------------------------------------------------------------------------------------------

# Two first messages between the same two people, sent at once, must open one conversation: the pair's
# transaction-level lock makes the second wait until the first commits, then find its conversation.
_PAIR_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('halolight-direct:' || :a || ':' || :b, 0))")


async def direct_conversation(db: AsyncSession, user_id: str, other_id: str) -> str:
    """The direct (two-person) conversation of the two, opened when there is none."""
    first, second = sorted((user_id, other_id))
    await db.execute(_PAIR_LOCK, {"a": first, "b": second})
    found = await db.scalar(
        select(Conversation.id)
        .join(Me, Me.conversation_id == Conversation.id)
        .join(Other, Other.conversation_id == Conversation.id)
        .where(
            Conversation.is_group.is_(False),
            Me.user_id == user_id,
            Other.user_id == other_id,
            ~exists().where(
                ConversationParticipant.conversation_id == Conversation.id,
                ConversationParticipant.user_id.not_in([user_id, other_id]),
            ),
        )
        .order_by(Conversation.created_at, Conversation.id)
        .limit(1)
    )
    if found is not None:
        return str(found)
    conversation_id = new_id()
    now = utcnow()
    db.add(Conversation(id=conversation_id, is_group=False, created_at=now, updated_at=now))
    await db.flush()
    db.add_all(
        [
            ConversationParticipant(conversation_id=conversation_id, user_id=user_id),
            ConversationParticipant(conversation_id=conversation_id, user_id=other_id),
        ]
    )
    await db.flush()
    return conversation_id


async def add_message(
    db: AsyncSession,
    *,
    conversation_id: str,
    sender_id: str,
    content: str,
    created_at: datetime | None = None,
) -> Message:
    """The message, the conversation moved to the top (and shown again to whoever had deleted it).
    `created_at`: now, unless given (demo data spread over the past)."""
    message = Message(id=new_id(), conversation_id=conversation_id, sender_id=sender_id, content=content)
    if created_at is not None:
        message.created_at = created_at
    db.add(message)
    await db.flush()
    await db.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(updated_at=func.greatest(Conversation.updated_at, message.created_at))
    )
    return message


async def count_unread(db: AsyncSession, conversation_id: str, sender_id: str) -> dict[str, int]:
    """Every other participant's unread count, plus one: one UPDATE, exact under concurrent sends.
    Returns their new counts by user id."""
    rows = await db.execute(
        update(ConversationParticipant)
        .where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id != sender_id,
        )
        .values(unread_count=ConversationParticipant.unread_count + 1)
        .returning(ConversationParticipant.user_id, ConversationParticipant.unread_count)
    )
    return {row.user_id: row.unread_count for row in rows}


async def person(db: AsyncSession, user_id: str) -> Any:
    """The sender as a message shows them."""
    return (await db.execute(select(User.name, User.email, User.avatar).where(User.id == user_id))).one()


async def mark_read(db: AsyncSession, user_id: str, conversation_id: str, at: datetime | None = None) -> None:
    """The caller's unread count 0, and their read mark `at` (now)."""
    await db.execute(
        update(ConversationParticipant)
        .where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id == user_id,
        )
        .values(unread_count=0, last_read_at=at or utcnow())
    )


async def hide(db: AsyncSession, user_id: str, conversation_id: str) -> None:
    """Deleted for the caller: hidden (with the messages so far) and read."""
    now = utcnow()
    statement = pg_insert(ConversationHidden).values(
        conversation_id=conversation_id, user_id=user_id, hidden_at=now
    )
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[ConversationHidden.conversation_id, ConversationHidden.user_id],
            set_={"hiddenAt": now},
        )
    )
    await mark_read(db, user_id, conversation_id)
