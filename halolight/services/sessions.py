"""Opening, rotating and revoking login sessions (refresh-token families, RFC 9700 rotation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from halolight.context import PublicContext
from halolight.db.types import new_id
from halolight.errors import Unauthorized
from halolight.repositories import auth_sessions
from halolight.security.tokens import fingerprint


@dataclass(frozen=True)
class TokenBundle:
    access_token: str
    refresh_token: str
    expires_at: datetime


async def open_session(ctx: PublicContext, user_id: str) -> TokenBundle:
    tokens = ctx.runtime.tokens
    session_id = new_id()
    access = tokens.issue("access", user_id, session_id)
    refresh = tokens.issue("refresh", user_id, session_id)
    await auth_sessions.open_session(
        ctx.db,
        session_id=session_id,
        user_id=user_id,
        token_hash=fingerprint(refresh.token),
        expires_at=refresh.expires_at,
    )
    return TokenBundle(access.token, refresh.token, access.expires_at)


async def rotate(ctx: PublicContext, refresh_token: str) -> TokenBundle:
    tokens = ctx.runtime.tokens
    claims = tokens.decode("refresh", refresh_token)
    access = tokens.issue("access", claims.user_id, claims.session_id)
    refresh = tokens.issue("refresh", claims.user_id, claims.session_id)
    rotated = await auth_sessions.rotate(
        ctx.db,
        session_id=claims.session_id,
        user_id=claims.user_id,
        old_hash=fingerprint(refresh_token),
        new_hash=fingerprint(refresh.token),
        expires_at=refresh.expires_at,
    )
    if not rotated:
        # A correctly signed token that is not the session's current one was either rotated already
        # (replayed, perhaps stolen) or belongs to a dead session: revoke the family. The revocation runs
        # in its own transaction because the 401 below rolls back the request's transaction.
        async with ctx.runtime.sessionmaker() as own:
            await auth_sessions.revoke(own, claims.session_id, "refresh token reuse or dead session")
            await own.commit()
        raise Unauthorized("Refresh token is no longer valid; log in again")
    return TokenBundle(access.token, refresh.token, access.expires_at)
