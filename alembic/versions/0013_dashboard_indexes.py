"""Indexes for the dashboard's lists: one actor's newest actions, and the platform's newest files.

`GET /api/dashboard/activities` and `…/visits` of a caller without `users:view` read one actor's activity-log
rows, newest first or over the last 30 days; the shared schema indexes `activity_logs."actorId"` and
`"createdAt"` alone, so either would sort or filter every row of the actor. `GET /api/dashboard/orders` of a
holder of `users:view` reads the platform's 10 newest files; files were indexed by owner only (0009).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "halolight_activity_logs_actor_newest": 'activity_logs ("actorId", "createdAt" DESC, id DESC)',
    "halolight_files_newest": 'files ("createdAt" DESC, id DESC)',
}


def upgrade() -> None:
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
