"""Who is calling: the access token, checked against the live session, user status and roles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from halolight.errors import Forbidden, Unauthorized
from halolight.repositories import auth_sessions, roles
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
    claims = tokens.decode("access", bearer_token(authorization))
    # Permissions are read per request, never from the token: a revoked role, a disabled user or a
    # logged-out session takes effect at once.
    if not await auth_sessions.is_live(db, claims.session_id, claims.user_id):
        raise Unauthorized("Session expired or revoked")
    permissions = await roles.permission_actions_of_users(db, [claims.user_id])
    return Principal(claims.user_id, claims.session_id, frozenset(permissions))
