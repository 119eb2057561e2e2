"""Indexes for the dashboard: its aggregates read indexes only, and its lists are index ranges.

The dashboard counts the platform's accounts, documents, files and actions by month or day (`createdAt`, with
`lastLoginAt`, `size` or `action`): each of these indexes holds what one aggregate reads, so PostgreSQL
counts from the index (an index-only scan) instead of reading every row (documents are kilobytes each). The
actor index serves a caller without `users:view` (their own actions, newest first or over 30 days); the
files index the platform's newest files (files were indexed by owner only, 0009).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "halolight_activity_logs_actor_newest": (
        'activity_logs ("actorId", "createdAt" DESC, id DESC) INCLUDE (action)'
    ),
    "halolight_activity_logs_created_action": 'activity_logs ("createdAt") INCLUDE (action)',
    "halolight_files_newest": 'files ("createdAt" DESC, id DESC) INCLUDE (size)',
    "halolight_documents_created": 'documents ("createdAt") INCLUDE ("ownerId")',
    "halolight_users_created_login": 'users ("createdAt") INCLUDE ("lastLoginAt")',
}


def upgrade() -> None:
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
