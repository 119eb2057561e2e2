"""Documents: the documents shared with a user, newest change first, read as short index ranges.

`GET /api/documents` merges the caller's own documents (an index range of `halolight_documents_owner_updated`)
with those shared with them, newest change first. The sort column, `documents."updatedAt"`, lives on the
document, not on the share, so no index could serve "shared with me, newest first": every page looked up each
shared document by id (2,000 for the bench's admin) to sort them and keep a few, and counted them the same way.

`halolight_document_share_order` (ours) keeps, for each share, what the list reads of its document: `updatedAt`
and `ownerId`, next to the share's own `sharedWithId`, `teamId` and `expiresAt`. Its two indexes, (sharedWithId,
updatedAt DESC, documentId DESC) and (teamId, updatedAt DESC, documentId DESC), give the newest shared with a
user, or with one of their teams, as index ranges; the total counts those index entries.

Triggers keep it exact whoever writes the shared tables (the NestJS and Java backends included):
- a new share gets its row, with its document's `updatedAt` and `ownerId` read FOR SHARE, so that a concurrent
  change to the document is waited for, not missed (its own trigger could not see this uncommitted share);
- a share whose document, user, team or expiry changes (the foreign keys' ON DELETE SET NULL included) moves its
  row; a share removed takes its row along (the foreign key, ON DELETE CASCADE);
- a document whose `updatedAt` or `ownerId` really changes moves its shares' rows (a view, which writes
  `updatedAt` unchanged, moves nothing).
Existing shares are copied in by the upgrade, under SHARE locks on both tables taken first: no write falls between
the copy and the triggers.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    "LOCK TABLE documents, document_shares IN SHARE MODE",
    """
    CREATE TABLE halolight_document_share_order (
        "shareId" text NOT NULL,
        "documentId" text NOT NULL,
        "sharedWithId" text,
        "teamId" text,
        "ownerId" text NOT NULL,
        "updatedAt" timestamp(3) without time zone NOT NULL,
        "expiresAt" timestamp(3) without time zone,
        CONSTRAINT halolight_document_share_order_pkey PRIMARY KEY ("shareId"),
        CONSTRAINT halolight_document_share_order_share_fkey FOREIGN KEY ("shareId")
            REFERENCES document_shares (id) ON UPDATE CASCADE ON DELETE CASCADE
    )
    """,
    'CREATE INDEX halolight_document_share_order_user ON halolight_document_share_order'
    ' ("sharedWithId", "updatedAt" DESC, "documentId" DESC) INCLUDE ("ownerId", "expiresAt")'
    ' WHERE "sharedWithId" IS NOT NULL',
    'CREATE INDEX halolight_document_share_order_team ON halolight_document_share_order'
    ' ("teamId", "updatedAt" DESC, "documentId" DESC) INCLUDE ("ownerId", "expiresAt")'
    ' WHERE "teamId" IS NOT NULL',
    # A document's shares, for the document trigger's UPDATE.
    'CREATE INDEX halolight_document_share_order_document ON halolight_document_share_order ("documentId")',
    """
    CREATE FUNCTION halolight_document_share_order_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- FOR SHARE: a change to the document meanwhile is waited for and then read; a change after it waits
        -- for this transaction, and its own trigger then sees this row.
        INSERT INTO halolight_document_share_order
            ("shareId", "documentId", "sharedWithId", "teamId", "ownerId", "updatedAt", "expiresAt")
        SELECT NEW.id, NEW."documentId", NEW."sharedWithId", NEW."teamId", d."ownerId", d."updatedAt",
               NEW."expiresAt"
        FROM documents d WHERE d.id = NEW."documentId"
        FOR SHARE OF d
        ON CONFLICT ("shareId") DO UPDATE SET
            "documentId" = EXCLUDED."documentId", "sharedWithId" = EXCLUDED."sharedWithId",
            "teamId" = EXCLUDED."teamId", "ownerId" = EXCLUDED."ownerId", "updatedAt" = EXCLUDED."updatedAt",
            "expiresAt" = EXCLUDED."expiresAt";
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER halolight_document_share_order_keep
    AFTER INSERT OR UPDATE OF "documentId", "sharedWithId", "teamId", "expiresAt" ON document_shares
    FOR EACH ROW EXECUTE FUNCTION halolight_document_share_order_keep()
    """,
    """
    CREATE FUNCTION halolight_document_share_order_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE halolight_document_share_order SET "updatedAt" = NEW."updatedAt", "ownerId" = NEW."ownerId"
        WHERE "documentId" = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER halolight_document_share_order_move AFTER UPDATE OF "updatedAt", "ownerId" ON documents
    FOR EACH ROW WHEN (OLD."updatedAt" IS DISTINCT FROM NEW."updatedAt" OR OLD."ownerId" IS DISTINCT FROM NEW."ownerId")
    EXECUTE FUNCTION halolight_document_share_order_move()
    """,
    """
    INSERT INTO halolight_document_share_order
        ("shareId", "documentId", "sharedWithId", "teamId", "ownerId", "updatedAt", "expiresAt")
    SELECT s.id, s."documentId", s."sharedWithId", s."teamId", d."ownerId", d."updatedAt", s."expiresAt"
    FROM document_shares s JOIN documents d ON d.id = s."documentId"
    """,
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS halolight_document_share_order_move ON documents",
    "DROP TRIGGER IF EXISTS halolight_document_share_order_keep ON document_shares",
    "DROP FUNCTION IF EXISTS halolight_document_share_order_move()",
    "DROP FUNCTION IF EXISTS halolight_document_share_order_keep()",
    "DROP TABLE IF EXISTS halolight_document_share_order",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
