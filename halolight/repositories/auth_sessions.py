"""Login sessions: one row per refresh-token family (extra table `auth_sessions`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Exists, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import AuthSession, User, UserStatus
from halolight.db.types import utcnow


def _user_is_active(user_id: str) -> Exists:
    return exists().where(User.id == user_id, User.status == UserStatus.ACTIVE)


async def open_session(
    db: AsyncSession, *, session_id: str, user_id: str, token_hash: str, expires_at: datetime
) -> None:
    db.add(AuthSession(id=session_id, user_id=user_id, token_hash=token_hash, expires_at=expires_at))
    await db.flush()


async def is_live(db: AsyncSession, session_id: str, user_id: str) -> bool:
    query = select(AuthSession.id).where(
        AuthSession.id == session_id,
        AuthSession.user_id == user_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > utcnow(),
        _user_is_active(user_id),
    )
    return (await db.execute(query)).first() is not None


async def rotate(
    db: AsyncSession, *, session_id: str, user_id: str, old_hash: str, new_hash: str, expires_at: datetime
) -> bool:
    """Swap the current refresh token in one conditional UPDATE; False when `old_hash` is not current."""
    now = utcnow()
    statement = (
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.token_hash == old_hash,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            _user_is_active(user_id),
        )
        .values(token_hash=new_hash, rotated_at=now, expires_at=expires_at)
        .returning(AuthSession.id)
    )
    return (await db.execute(statement)).first() is not None


async def revoke(db: AsyncSession, session_id: str, reason: str) -> None:
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def revoke_all_of_user(db: AsyncSession, user_id: str, reason: str) -> None:
    await db.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
