"""Who is calling: the access token, checked against the live session, user status and roles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.errors import Forbidden, Unauthorized
from halolight.repositories import auth_sessions
from halolight.security.rbac import grants
from halolight.security.tokens import TokenCodec


@dataclass(frozen=True)
class Principal:
    user_id: str
    session_id: str
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        return grants(self.permissions, permission)

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"Missing permission: {permission}")


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096:
        raise Unauthorized()
    return token


async def authenticate(db: AsyncSession, tokens: TokenCodec, authorization: str | None) -> Principal:
    """The caller, in one round trip to the database (session live, user ACTIVE, permissions: one statement).

    Permissions are read per request, never from the token, and nothing is cached in the process: a revoked
    role, a disabled user or a logged-out session takes effect at once, in every worker.
    """
    claims = tokens.decode("access", bearer_token(authorization))
    try:
        permissions = await auth_sessions.live_permissions(db, claims.session_id, claims.user_id)
    except DBAPIError as error:
        # The pool does not ping connections on checkout (that would be one more round trip on every
        # request); a connection the server dropped (restart, failover, idle timeout) fails here instead,
        # on the request's first statement, before anything was read or written. SQLAlchemy has then
        # invalidated it and every pooled connection as old as it: retry once on a fresh one. A database
        # that is really down fails again, and the app answers 503 with Retry-After.
        if not error.connection_invalidated:
            raise
        await db.rollback()
        permissions = await auth_sessions.live_permissions(db, claims.session_id, claims.user_id)
    if permissions is None:
        raise Unauthorized("Session expired or revoked")
    return Principal(claims.user_id, claims.session_id, permissions)
