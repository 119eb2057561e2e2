"""The documents' ids, ordered byte by byte, for the lists' lookups by id (issue 20).

A documents list reads the caller's shared documents by id, one index descent per share (2,000 for the bench's
admin). Under the database's collation each comparison of two ids goes through the C library's `strcoll`;
under `COLLATE "C"` it is a `memcmp`. Ids are ASCII (cuid), so the two orders agree on equality and only the
cost differs (measured on the bench's 100,000 documents: 6.5 ms against 9.3 ms for those 2,000 lookups under
C.UTF-8; Prisma's databases usually run under en_US.UTF-8, where `strcoll` costs more). This index replaces
0007's `halolight_documents_id_covering`, with the same columns included: its only readers were those lookups.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BYTEWISE = (
    "CREATE INDEX IF NOT EXISTS halolight_documents_id_c "
    'ON documents ((id COLLATE "C")) INCLUDE ("updatedAt", "ownerId", folder)'
)
COVERING = (
    "CREATE INDEX IF NOT EXISTS halolight_documents_id_covering "
    'ON documents (id) INCLUDE ("updatedAt", "ownerId", folder)'
)


def upgrade() -> None:
    op.execute(BYTEWISE)
    op.execute("DROP INDEX IF EXISTS halolight_documents_id_covering")


def downgrade() -> None:
    op.execute(COVERING)
    op.execute("DROP INDEX IF EXISTS halolight_documents_id_c")
