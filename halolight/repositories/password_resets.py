"""Password reset tokens (extra table `password_reset_tokens`), stored as SHA-256 fingerprints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import PasswordResetToken
from halolight.db.types import utcnow


async def create(db: AsyncSession, *, user_id: str, token_hash: str, expires_at: datetime) -> None:
    db.add(PasswordResetToken(user_id=user_id, token_hash=token_hash, expires_at=expires_at))
    await db.flush()


async def consume(db: AsyncSession, token_hash: str) -> str | None:
    """Mark the token used in one conditional UPDATE and return its user id; None if unknown/used/expired."""
    now = utcnow()
    statement = (
        update(PasswordResetToken)
        .where(
            PasswordResetToken.token_hash == token_hash,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(PasswordResetToken.user_id)
    )
    return (await db.execute(statement)).scalar_one_or_none()


async def discard_all_of_user(db: AsyncSession, user_id: str) -> None:
    await db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
