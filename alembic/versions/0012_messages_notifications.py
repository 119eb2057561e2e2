"""Messages and Notifications: the indexes their lists need, and who deleted which conversation.

The shared `conversation_participants` has only its primary key ("conversationId", "userId"): "my
conversations" would scan it. `messages` has "conversationId" alone: a page of one conversation, newest
first, would sort all its messages. `notifications` has ("userId", read): a page of one user's notifications,
newest first, would sort all of them. Each index below serves its keyset page as one range in its own order.

`halolight_conversation_hidden` (ours) records that a participant deleted a conversation for themself
(`deleteConversation`): the shared schema has no column for it, and leaving the participant row would
break the direct conversation's reuse and the other side's unread counts. The conversation is hidden from
that participant until a message newer than `hiddenAt` arrives; older messages stay hidden from them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    'CREATE INDEX IF NOT EXISTS halolight_conversation_participants_user'
    ' ON conversation_participants ("userId")',
    'CREATE INDEX IF NOT EXISTS halolight_messages_conversation_newest'
    ' ON messages ("conversationId", "createdAt" DESC, id DESC)',
    'CREATE INDEX IF NOT EXISTS halolight_notifications_user_newest'
    ' ON notifications ("userId", "createdAt" DESC, id DESC)',
    """
    CREATE TABLE halolight_conversation_hidden (
        "conversationId" text NOT NULL,
        "userId" text NOT NULL,
        "hiddenAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT halolight_conversation_hidden_pkey PRIMARY KEY ("conversationId", "userId"),
        CONSTRAINT "halolight_conversation_hidden_conversationId_fkey" FOREIGN KEY ("conversationId")
            REFERENCES conversations (id) ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT "halolight_conversation_hidden_userId_fkey" FOREIGN KEY ("userId")
            REFERENCES users (id) ON UPDATE CASCADE ON DELETE CASCADE
    )
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS halolight_conversation_hidden")
    for index in (
        "halolight_notifications_user_newest",
        "halolight_messages_conversation_newest",
        "halolight_conversation_participants_user",
    ):
        op.execute(f"DROP INDEX IF EXISTS {index}")
