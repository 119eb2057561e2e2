"""Absolute lifetime and origin of login sessions (our table `auth_sessions` only).

`absoluteExpiresAt` bounds a refresh-token family however often it is rotated; existing sessions get 90 days
from their creation (the default of JWT_SESSION_MAX_DAYS). `userAgent` and `ipAddress` are shown in the
owner's session list. The shared Prisma tables are not touched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "auth_sessions",
        sa.Column("absoluteExpiresAt", postgresql.TIMESTAMP(timezone=False, precision=3), nullable=True),
    )
    op.execute(
        'UPDATE auth_sessions SET "absoluteExpiresAt" = "createdAt" + interval \'90 days\' '
        'WHERE "absoluteExpiresAt" IS NULL'
    )
    op.alter_column("auth_sessions", "absoluteExpiresAt", nullable=False)
    op.add_column("auth_sessions", sa.Column("userAgent", sa.Text(), nullable=True))
    op.add_column("auth_sessions", sa.Column("ipAddress", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("auth_sessions", "ipAddress")
    op.drop_column("auth_sessions", "userAgent")
    op.drop_column("auth_sessions", "absoluteExpiresAt")
