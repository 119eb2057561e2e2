"""Live-update streams: single-use tickets and per-user stream leases (our tables).

- `halolight_stream_tickets`: a browser's `EventSource` cannot send `Authorization`, so it opens its stream with
  a short-lived ticket from an authenticated POST. Only the ticket's SHA-256 is kept; it is consumed by one
  conditional UPDATE, so it works once, across every worker and host.
- `halolight_stream_leases`: one row per open stream, renewed by the worker holding it; the per-user limit
  counts the live ones, so a crashed worker's streams stop counting when their leases run out.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    """
    CREATE TABLE halolight_stream_tickets (
        "tokenHash" text NOT NULL,
        "userId" text NOT NULL,
        "sessionId" text NOT NULL,
        "expiresAt" timestamp(3) without time zone NOT NULL,
        "usedAt" timestamp(3) without time zone,
        CONSTRAINT halolight_stream_tickets_pkey PRIMARY KEY ("tokenHash"),
        CONSTRAINT "halolight_stream_tickets_userId_fkey" FOREIGN KEY ("userId") REFERENCES users (id)
            ON UPDATE CASCADE ON DELETE CASCADE,
        CONSTRAINT "halolight_stream_tickets_sessionId_fkey" FOREIGN KEY ("sessionId")
            REFERENCES auth_sessions (id) ON UPDATE CASCADE ON DELETE CASCADE
    )
    """,
    # Pruning expired tickets.
    'CREATE INDEX halolight_stream_tickets_expires ON halolight_stream_tickets ("expiresAt")',
    # The cascade from auth_sessions and users.
    'CREATE INDEX halolight_stream_tickets_session ON halolight_stream_tickets ("sessionId")',
    'CREATE INDEX halolight_stream_tickets_user ON halolight_stream_tickets ("userId")',
    """
    CREATE TABLE halolight_stream_leases (
        id text NOT NULL,
        "userId" text NOT NULL,
        "expiresAt" timestamp(3) without time zone NOT NULL,
        CONSTRAINT halolight_stream_leases_pkey PRIMARY KEY (id),
        CONSTRAINT "halolight_stream_leases_userId_fkey" FOREIGN KEY ("userId") REFERENCES users (id)
            ON UPDATE CASCADE ON DELETE CASCADE
    )
    """,
    # Counting one user's live leases; also what the cascade from users walks.
    'CREATE INDEX halolight_stream_leases_user ON halolight_stream_leases ("userId", "expiresAt")',
    # Pruning the leases of crashed workers.
    'CREATE INDEX halolight_stream_leases_expires ON halolight_stream_leases ("expiresAt")',
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS halolight_stream_leases")
    op.execute("DROP TABLE IF EXISTS halolight_stream_tickets")
