"""Our own auth tables: login sessions (refresh-token families) and password-reset tokens.

The Prisma-based backends do not know these tables; only foreign keys to users tie them to the shared schema.
Token columns hold sha256 hex digests, never the tokens themselves.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> postgresql.TIMESTAMP:
    # timestamp(3) without time zone holding UTC, like every Prisma DateTime column.
    return postgresql.TIMESTAMP(timezone=False, precision=3)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["userId"], ["users.id"], name=f"{table}_userId_fkey", onupdate="CASCADE", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("userId", sa.Text(), nullable=False),
        sa.Column("tokenHash", sa.Text(), nullable=False),
        sa.Column("createdAt", _timestamp(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("rotatedAt", _timestamp(), nullable=True),
        sa.Column("expiresAt", _timestamp(), nullable=False),
        sa.Column("revokedAt", _timestamp(), nullable=True),
        sa.Column("revokedReason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="auth_sessions_pkey"),
        _user_fk("auth_sessions"),
    )
    op.create_index("auth_sessions_tokenHash_key", "auth_sessions", ["tokenHash"], unique=True)
    op.create_index("auth_sessions_userId_idx", "auth_sessions", ["userId"])

    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("userId", sa.Text(), nullable=False),
        sa.Column("tokenHash", sa.Text(), nullable=False),
        sa.Column("expiresAt", _timestamp(), nullable=False),
        sa.Column("usedAt", _timestamp(), nullable=True),
        sa.Column("createdAt", _timestamp(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="password_reset_tokens_pkey"),
        _user_fk("password_reset_tokens"),
    )
    op.create_index(
        "password_reset_tokens_tokenHash_key", "password_reset_tokens", ["tokenHash"], unique=True
    )
    op.create_index("password_reset_tokens_userId_idx", "password_reset_tokens", ["userId"])


def downgrade() -> None:
    op.drop_table("password_reset_tokens")
    op.drop_table("auth_sessions")
