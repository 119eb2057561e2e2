"""Login sessions: one row per refresh-token family (extra table `auth_sessions`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Exists, and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import AuthSession, Permission, RolePermission, User, UserRole, UserStatus
from halolight.db.reads import Reads, Statement
from halolight.db.types import utcnow
from halolight.events import outbox

# The session list shows at most this many (the most recently used); older live sessions still work.
LIST_LIMIT = 100


def _user_is_active(user_id: str) -> Exists:
    return exists().where(User.id == user_id, User.status == UserStatus.ACTIVE)


async def open_session(
    db: AsyncSession,
    *,
    session_id: str,
    user_id: str,
    token_hash: str,
    expires_at: datetime,
    absolute_expires_at: datetime,
    user_agent: str | None,
    ip_address: str | None,
) -> None:
    db.add(
        AuthSession(
            id=session_id,
            user_id=user_id,
            token_hash=token_hash,
            expires_at=min(expires_at, absolute_expires_at),
            absolute_expires_at=absolute_expires_at,
            user_agent=user_agent or None,
            ip_address=ip_address or None,
        )
    )
    await db.flush()


# The whole authentication of a request in one statement, so one round trip: the session is live (not
# revoked, not expired), its user is ACTIVE, and the permissions of all the user's roles. No row: 401. One
# row: the permission actions (`{NULL}` for a user without any, dropped by the caller). Built once at
# import, so SQLAlchemy compiles it once (its compiled cache keys on the statement's structure).
_LIVE_PERMISSIONS = Statement(
    select(func.array_agg(Permission.action))
    .select_from(AuthSession)
    .join(User, and_(User.id == AuthSession.user_id, User.status == UserStatus.ACTIVE))
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(RolePermission, RolePermission.role_id == UserRole.role_id)
    .outerjoin(Permission, Permission.id == RolePermission.permission_id)
    .where(
        AuthSession.id == bindparam("session_id"),
        AuthSession.user_id == bindparam("user_id"),
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > bindparam("now", type_=AuthSession.expires_at.type),
    )
    .group_by(AuthSession.id)
)


async def live_permissions(reads: Reads, session_id: str, user_id: str) -> frozenset[str] | None:
    """The permission actions of `user_id` if `session_id` is one of their live sessions and they are
    ACTIVE; None otherwise. One statement, on the fast read path."""
    actions = await _LIVE_PERMISSIONS.scalar(reads, session_id=session_id, user_id=user_id, now=utcnow())
    if actions is None:
        return None
    return frozenset(action for action in actions if action is not None)


async def rotate(
    db: AsyncSession, *, session_id: str, user_id: str, old_hash: str, new_hash: str, expires_at: datetime
) -> bool:
    """Swap the current refresh token in one conditional UPDATE; False when `old_hash` is not current.

    The idle expiry moves to `expires_at`, but never past the session's absolute end.
    """
    now = utcnow()
    statement = (
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.token_hash == old_hash,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            AuthSession.absolute_expires_at > now,
            _user_is_active(user_id),
        )
        .values(
            token_hash=new_hash,
            rotated_at=now,
            expires_at=func.least(expires_at, AuthSession.absolute_expires_at),
        )
        .returning(AuthSession.id)
    )
    return (await db.execute(statement)).first() is not None


async def live_of_user(db: AsyncSession, user_id: str) -> Sequence[AuthSession]:
    """The user's live sessions, most recently used first."""
    last_used = func.coalesce(AuthSession.rotated_at, AuthSession.created_at)
    query = (
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(last_used.desc(), AuthSession.id)
        .limit(LIST_LIMIT)
    )
    return (await db.scalars(query)).all()


async def revoke(db: AsyncSession, session_id: str, reason: str) -> None:
    outbox.sessions_changed(db)  # open live-update streams of the session end at the commit
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def revoke_own(db: AsyncSession, session_id: str, user_id: str, reason: str) -> bool:
    """Revoke one live session of `user_id`; False when it has none with that id (someone else's, say)."""
    outbox.sessions_changed(db)
    now = utcnow()
    statement = (
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .values(revoked_at=now, revoked_reason=reason)
        .returning(AuthSession.id)
    )
    return (await db.execute(statement)).first() is not None


async def revoke_all_of_user(
    db: AsyncSession, user_id: str, reason: str, *, keep_session_id: str | None = None
) -> None:
    outbox.sessions_changed(db)
    statement = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep_session_id is not None:
        statement = statement.where(AuthSession.id != keep_session_id)
    await db.execute(statement.values(revoked_at=utcnow(), revoked_reason=reason))
