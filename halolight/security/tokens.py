"""JWT access and refresh tokens (python-jose), wrapped so that every decode checks the same things."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from jose import JWTError, jwt

from halolight.db.types import utcnow
from halolight.errors import Unauthorized
from halolight.settings import Settings

ALGORITHM = "HS256"
# Tokens remembered as verified per process (see `TokenCodec.decode`); a few MiB at most.
VERIFIED_CACHE_SIZE = 10_000
# Clock skew tolerated on `iat` between the instances that issue and check tokens.
CLOCK_SKEW_S = 5
TokenType = Literal["access", "refresh"]
# Header fields that would let a token choose its own key or algorithm handling: we use none of them.
_REFUSED_HEADERS = {"kid", "jku", "jwk", "x5u", "x5c", "x5t", "crit"}
# `aud` (RFC 8725 §3.9): this API issues tokens for itself only and puts no audience in them, so a token
# that names an audience was issued for some other recipient and is refused. python-jose checks it: with
# `verify_aud` and no `audience` passed to decode, any `aud` (a string, a list, even an empty one or null)
# fails, while a token without one (every token we ever issued) passes.
_DECODE_OPTIONS = {
    "verify_signature": True,
    "verify_exp": True,
    "verify_iat": True,
    "verify_iss": True,
    "verify_aud": True,
    "require_exp": True,
    "require_iat": True,
    "require_sub": True,
    "require_jti": True,
    "require_iss": True,
    "leeway": 0,
}


@dataclass(frozen=True)
class Claims:
    user_id: str
    session_id: str
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def fingerprint(token: str) -> str:
    """What the database stores instead of a refresh or reset token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def random_token() -> str:
    return secrets.token_urlsafe(32)


class TokenCodec:
    def __init__(self, settings: Settings) -> None:
        self._keys: dict[TokenType, str] = {
            "access": settings.jwt_secret_key,
            "refresh": settings.jwt_refresh_secret_key,
        }
        self._lifetimes: dict[TokenType, timedelta] = {
            "access": timedelta(minutes=settings.jwt_access_token_expire_minutes),
            "refresh": timedelta(days=settings.jwt_refresh_token_expire_days),
        }
        self._issuer = settings.jwt_issuer
        self._verified: dict[tuple[TokenType, str], Claims] = {}

    def lifetime(self, kind: TokenType) -> timedelta:
        return self._lifetimes[kind]

    def issue(self, kind: TokenType, user_id: str, session_id: str) -> IssuedToken:
        now = utcnow().replace(microsecond=0)
        expires_at = now + self._lifetimes[kind]
        claims = {
            "iss": self._issuer,
            "sub": user_id,
            "sid": session_id,
            "jti": secrets.token_hex(16),
            "type": kind,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return IssuedToken(jwt.encode(claims, self._keys[kind], algorithm=ALGORITHM), expires_at)

    def decode(self, kind: TokenType, token: str) -> Claims:
        """The claims of a token signed with the key of `kind`, unexpired; 401 otherwise.

        A token that verified once is remembered (bounded, per process) and only its expiry is checked
        again: the signature and the claims of a given string cannot change, and verifying them costs about
        75 µs of CPU per request (python-jose, measured here). Revocation is not a property of the token: it
        is read from the database on every request.
        """
        known = self._verified.get((kind, token))
        if known is not None:
            if known.expires_at.timestamp() <= time.time():
                raise Unauthorized("Invalid or expired token")
            return known
        claims = self._verify(kind, token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[(kind, token)] = claims
        return claims

    def _verify(self, kind: TokenType, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or _REFUSED_HEADERS & set(header):
                raise Unauthorized("Invalid token")
            claims = jwt.decode(
                token, self._keys[kind], algorithms=[ALGORITHM], options=_DECODE_OPTIONS, issuer=self._issuer
            )
        except JWTError:
            raise Unauthorized("Invalid or expired token") from None
        # A refresh token must never pass as an access token (and vice versa), even with a shared secret.
        if claims.get("type") != kind:
            raise Unauthorized("Invalid token type")
        values = (claims.get("sub"), claims.get("sid"), claims.get("jti"))
        if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in values):
            raise Unauthorized("Invalid token")
        exp = self._check_times(kind, claims.get("iat"), claims.get("exp"))
        sub, sid, jti = (str(v) for v in values)
        return Claims(sub, sid, jti, datetime.fromtimestamp(exp, tz=UTC))

    def _check_times(self, kind: TokenType, iat: object, exp: object) -> int:
        """RFC 8725 defence in depth, even for correctly signed tokens: `iat` and `exp` are integers
        (NumericDate as we issue it; python-jose alone accepts `"exp": "1999999999"`), `iat` is not in the
        future, and the token lives no longer than the configured lifetime of its type. Returns `exp`."""
        if type(iat) is not int or type(exp) is not int:  # not bool, float or str
            raise Unauthorized("Invalid token")
        if iat > time.time() + CLOCK_SKEW_S:
            raise Unauthorized("Invalid token")
        if not 0 < exp - iat <= self._lifetimes[kind].total_seconds():
            raise Unauthorized("Invalid token")
        return exp
