"""An index for the Folders lists: one level of an owner's folders, by name.

`GET /api/folders` reads the folders of one owner in one parent (the top level: no parent) by name, and the
tree reads all of an owner's folders by name. The shared schema indexes `folders."ownerId"` alone; with this
index the list is one index range in its own order, and the tree one owner's range. Subtree rewrites filter
on the owner too (`halolight/repositories/folders.py`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "halolight_folders_owner_parent_name"


def upgrade() -> None:
    op.execute(f'CREATE INDEX IF NOT EXISTS {INDEX} ON folders ("ownerId", "parentId", name, id)')


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
