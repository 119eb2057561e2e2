"""Who is calling: the access token, checked against the live session, user status and roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
import psycopg_pool

from halolight.db.reads import PoolReads
from halolight.errors import Forbidden, Unauthorized
from halolight.repositories import auth_sessions
from halolight.security.rbac import grants
from halolight.security.tokens import TokenCodec


@dataclass(frozen=True)
class Principal:
    user_id: str
    session_id: str
    permissions: frozenset[str]
    # When the access token expires (a live-update stream ends then at the latest); None when not known.
    expires_at: datetime | None = None

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


async def authenticate(reads: PoolReads, tokens: TokenCodec, authorization: str | None) -> Principal:
    """The caller, in one round trip to the database (session live, user ACTIVE, permissions: one statement),
    on a read-pool connection (autocommit: no BEGIN, no COMMIT).

    Permissions are read per request, never from the token, and nothing is cached in the process: a revoked
    role, a disabled user or a logged-out session takes effect at once, in every worker.
    """
    claims = tokens.decode("access", bearer_token(authorization))
    try:
        permissions = await auth_sessions.live_permissions(reads, claims.session_id, claims.user_id)
    except psycopg_pool.PoolTimeout:
        raise  # no connection to be had: nothing to retry on (503)
    except psycopg.OperationalError:
        # Pools do not ping connections on checkout (that would be one more round trip on every request);
        # a connection the server dropped (restart, failover, idle timeout) fails here instead, on the
        # request's first statement, before anything was read or written. Retry once on a fresh one, after
        # discarding the idle connections that died with it. A database that is really down fails again,
        # and the app answers 503 with Retry-After.
        await reads.retry_on_fresh_connection()
        permissions = await auth_sessions.live_permissions(reads, claims.session_id, claims.user_id)
    if permissions is None:
        raise Unauthorized("Session expired or revoked")
    return Principal(claims.user_id, claims.session_id, permissions, claims.expires_at)
