"""Opening, rotating and revoking login sessions (refresh-token families, RFC 9700 rotation)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from halolight.context import PublicContext
from halolight.db.types import new_id, utcnow
from halolight.errors import Unauthorized
from halolight.repositories import auth_sessions
from halolight.security.tokens import fingerprint

security_log = logging.getLogger("halolight.security")


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
        absolute_expires_at=utcnow() + timedelta(days=ctx.runtime.settings.jwt_session_max_days),
        user_agent=ctx.user_agent,
        ip_address=ctx.client_ip,
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
        # (replayed, perhaps stolen, or raced by a second tab) or belongs to a dead session: revoke the
        # family. In the request's own transaction (the failed conditional UPDATE may hold the row lock, so
        # a second connection would wait on this one), committed before answering 401.
        await auth_sessions.revoke(ctx.db, claims.session_id, "refresh token reuse or dead session")
        await ctx.commit()
        security_log.warning(
            "refresh token reuse or dead session: user %s, session %s revoked (client %s)",
            claims.user_id,
            claims.session_id,
            ctx.client_ip,
        )
        raise Unauthorized("Refresh token is no longer valid; log in again")
    return TokenBundle(access.token, refresh.token, access.expires_at)
