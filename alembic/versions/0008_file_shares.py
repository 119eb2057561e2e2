"""Share links of files and their access log: two tables of our own (the FileShares tag).

- `halolight_file_shares`: one row per link. The token is never stored: `tokenHash` is its SHA-256 (hex),
  unique, so a leaked table yields no usable link. `accessCount` only grows, through one conditional UPDATE
  that also checks revocation, expiry and `maxAccessCount`; the CHECKs keep the vocabulary and the counts
  sane whichever backend writes. A link may be restricted to one user or one team, never both.
- `halolight_file_access_logs`: one row per successful resolution of a link (who, from where, when).

Both go with their file (ON DELETE CASCADE), and a link restricted to a user or team goes with them; a log row
outlives its reader's account (`userId` set to NULL). Indexes: the token lookup, the owner's lists (one
file's links and one file's log, newest first), and the foreign keys the cascades walk.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    """
    CREATE TABLE halolight_file_shares (
        id text NOT NULL,
        "fileId" text NOT NULL,
        "tokenHash" text NOT NULL,
        permission text NOT NULL DEFAULT 'VIEW',
        "userId" text,
        "teamId" text,
        "expiresAt" timestamp(3) without time zone,
        "accessCount" integer NOT NULL DEFAULT 0,
        "maxAccessCount" integer,
        "revokedAt" timestamp(3) without time zone,
        "createdAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT halolight_file_shares_pkey PRIMARY KEY (id),
        CONSTRAINT "halolight_file_shares_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES files (id)
            ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT "halolight_file_shares_userId_fkey" FOREIGN KEY ("userId") REFERENCES users (id)
            ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT "halolight_file_shares_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES teams (id)
            ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT halolight_file_shares_permission_check
            CHECK (permission IN ('VIEW', 'READ', 'DOWNLOAD', 'EDIT')),
        CONSTRAINT halolight_file_shares_token_hash_check CHECK ("tokenHash" ~ '^[0-9a-f]{64}$'),
        CONSTRAINT halolight_file_shares_one_audience_check CHECK ("userId" IS NULL OR "teamId" IS NULL),
        CONSTRAINT halolight_file_shares_counts_check CHECK (
            "accessCount" >= 0
            AND ("maxAccessCount" IS NULL OR ("maxAccessCount" >= 1 AND "accessCount" <= "maxAccessCount"))
        )
    )
    """,
    'CREATE UNIQUE INDEX "halolight_file_shares_tokenHash_key" ON halolight_file_shares ("tokenHash")',
    # One file's links, newest first (the list), and the count of its unrevoked ones (the cap).
    'CREATE INDEX "halolight_file_shares_fileId_createdAt_id_idx" '
    'ON halolight_file_shares ("fileId", "createdAt" DESC, id DESC)',
    'CREATE INDEX "halolight_file_shares_userId_idx" ON halolight_file_shares ("userId")',
    'CREATE INDEX "halolight_file_shares_teamId_idx" ON halolight_file_shares ("teamId")',
    """
    CREATE TABLE halolight_file_access_logs (
        id text NOT NULL,
        "shareId" text NOT NULL,
        "fileId" text NOT NULL,
        "userId" text,
        "ipAddress" text,
        "userAgent" text,
        "accessedAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT halolight_file_access_logs_pkey PRIMARY KEY (id),
        CONSTRAINT "halolight_file_access_logs_shareId_fkey" FOREIGN KEY ("shareId")
            REFERENCES halolight_file_shares (id) ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT "halolight_file_access_logs_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES files (id)
            ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT "halolight_file_access_logs_userId_fkey" FOREIGN KEY ("userId") REFERENCES users (id)
            ON UPDATE CASCADE ON DELETE SET NULL,
        CONSTRAINT halolight_file_access_logs_bounds_check
            CHECK (length("ipAddress") <= 64 AND length("userAgent") <= 512)
    )
    """,
    # One file's log, newest first (the owner's paged list).
    'CREATE INDEX "halolight_file_access_logs_fileId_accessedAt_id_idx" '
    'ON halolight_file_access_logs ("fileId", "accessedAt" DESC, id DESC)',
    'CREATE INDEX "halolight_file_access_logs_shareId_idx" ON halolight_file_access_logs ("shareId")',
    'CREATE INDEX "halolight_file_access_logs_userId_idx" ON halolight_file_access_logs ("userId")',
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS halolight_file_access_logs")
    op.execute("DROP TABLE IF EXISTS halolight_file_shares")
