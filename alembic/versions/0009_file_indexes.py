"""An index for the Files list: one owner's files, newest first.

`GET /api/files` reads one owner's files by `createdAt` descending (then id), optionally in one folder. The
shared schema indexes `files."ownerId"` and `files."folderId"` alone: with those a page sorts every file of the
owner. With this index a page is one index range in its own order, and the deferred join of
`paging.fetch_page` skips index entries, not rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "halolight_files_owner_newest"


def upgrade() -> None:
    op.execute(f'CREATE INDEX IF NOT EXISTS {INDEX} ON files ("ownerId", "createdAt" DESC, id DESC)')


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
