"""Password hashing with `bcrypt` (hashes the NestJS backend's bcryptjs verifies, and vice versa)."""

from __future__ import annotations

import asyncio

import bcrypt

from halolight.errors import ValidationFailed

BCRYPT_MAX_BYTES = 72


def ensure_hashable(password: str, loc: tuple[str, ...] = ("body", "password")) -> bytes:
    """bcrypt 5 raises on more than 72 bytes; the spec caps characters, this caps bytes (422, not 500)."""
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        raise ValidationFailed(loc, "Password must be at most 72 bytes in UTF-8", "string_too_long")
    return encoded


class PasswordHasher:
    """Hashes in worker threads, at most `max_concurrency` at a time, so logins never stall the event loop."""

    def __init__(self, rounds: int, max_concurrency: int) -> None:
        self._rounds = rounds
        self._slots = asyncio.Semaphore(max_concurrency)
        # Verified against when the email is unknown, so response time does not reveal which emails exist.
        self._dummy_hash = bcrypt.hashpw(b"halolight-dummy-password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        encoded = ensure_hashable(password)
        async with self._slots:
            hashed = await asyncio.to_thread(bcrypt.hashpw, encoded, bcrypt.gensalt(self._rounds))
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check `password` against `hashed`; with `hashed=None` burn the same time and return False."""
        encoded = ensure_hashable(password)
        target = hashed.encode("ascii", "replace") if hashed else self._dummy_hash
        async with self._slots:
            try:
                ok = await asyncio.to_thread(bcrypt.checkpw, encoded, target)
            except ValueError:  # a malformed hash stored by someone else: never a match
                ok = False
        return ok and hashed is not None
