"""Messages: each participant's conversations, newest first, read as one short index range.

`GET /api/messages/conversations` sorts the caller's conversations by their last activity
(`conversations."updatedAt"`, moved by every send). That column lives on the conversation, not on the
participant, so no index can serve "this user's conversations, newest first": every page joined all of the
caller's conversations (2,000 for the bench admin), probed each one's last message and sorted them all, to
keep 20 (EXPLAIN in bench/explain.md).

`halolight_conversation_activity` (ours) keeps, for each participant row, the conversation's `updatedAt` as
`activityAt`; its index ("userId", "activityAt" DESC, "conversationId" DESC) is the list's keyset order, so a
page reads its 20 entries and probes 20 last messages, whatever the caller's number of conversations.

Triggers keep it exact whoever writes the shared tables (the NestJS and Java backends included): a new
participant gets its row, with the conversation's `updatedAt` (read FOR SHARE, so that a concurrent send is
waited for, not missed); a conversation whose `updatedAt` changes moves its participants' rows (the send's
UPDATE already locks the conversation row, so concurrent sends serialize there). A participant or conversation removed takes its rows along (the foreign key to the participant row,
ON DELETE CASCADE). Existing rows are filled in by the upgrade.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    """
    CREATE TABLE halolight_conversation_activity (
        "conversationId" text NOT NULL,
        "userId" text NOT NULL,
        "activityAt" timestamp(3) without time zone NOT NULL,
        CONSTRAINT halolight_conversation_activity_pkey PRIMARY KEY ("conversationId", "userId"),
        CONSTRAINT halolight_conversation_activity_participant_fkey FOREIGN KEY ("conversationId", "userId")
            REFERENCES conversation_participants ("conversationId", "userId")
            ON UPDATE CASCADE ON DELETE CASCADE
    )
    """,
    # The list's keyset order: one user's conversations, newest activity first.
    'CREATE INDEX halolight_conversation_activity_user_newest ON halolight_conversation_activity'
    ' ("userId", "activityAt" DESC, "conversationId" DESC)',
    """
    CREATE FUNCTION halolight_conversation_activity_join() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- FOR SHARE: a send that moves the conversation meanwhile is waited for, and its `updatedAt` read
        -- (its own trigger could not see this uncommitted row); a send after it waits for this one.
        INSERT INTO halolight_conversation_activity ("conversationId", "userId", "activityAt")
        SELECT NEW."conversationId", NEW."userId", c."updatedAt" FROM conversations c
        WHERE c.id = NEW."conversationId"
        FOR SHARE OF c
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER halolight_conversation_activity_join AFTER INSERT ON conversation_participants
    FOR EACH ROW EXECUTE FUNCTION halolight_conversation_activity_join()
    """,
    """
    CREATE FUNCTION halolight_conversation_activity_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE halolight_conversation_activity SET "activityAt" = NEW."updatedAt"
        WHERE "conversationId" = NEW.id AND "activityAt" IS DISTINCT FROM NEW."updatedAt";
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER halolight_conversation_activity_move AFTER UPDATE OF "updatedAt" ON conversations
    FOR EACH ROW WHEN (OLD."updatedAt" IS DISTINCT FROM NEW."updatedAt")
    EXECUTE FUNCTION halolight_conversation_activity_move()
    """,
    """
    INSERT INTO halolight_conversation_activity ("conversationId", "userId", "activityAt")
    SELECT p."conversationId", p."userId", c."updatedAt"
    FROM conversation_participants p JOIN conversations c ON c.id = p."conversationId"
    ON CONFLICT DO NOTHING
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS halolight_conversation_activity_move ON conversations")
    op.execute("DROP TRIGGER IF EXISTS halolight_conversation_activity_join ON conversation_participants")
    op.execute("DROP FUNCTION IF EXISTS halolight_conversation_activity_move()")
    op.execute("DROP FUNCTION IF EXISTS halolight_conversation_activity_join()")
    op.execute("DROP TABLE IF EXISTS halolight_conversation_activity")
