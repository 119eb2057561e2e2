"""Passwords: the rules for new ones, and hashing with `bcrypt` (interoperable with the NestJS backend's
bcryptjs: hashes made by either verify in the other)."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Sequence
from functools import cache

import bcrypt

from halolight.errors import ValidationFailed

BCRYPT_MAX_BYTES = 72
COMMON_PASSWORD_TYPE = "password_too_common"  # noqa: S105 - an error type, not a password
# The length bounds of a new password: those of `NewPassword` in spec/openapi.yaml, the contract
# (tests/unit/test_security.py keeps them equal).
MIN_LENGTH = 8
MAX_LENGTH = 72


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most used passwords (lower case) as kept by zxcvbn, loaded on first use."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    """True when the password, folded (Unicode NFKC, case), is one of the most used passwords."""
    return unicodedata.normalize("NFKC", password).casefold() in _common_passwords()


def check_new_password(password: str, loc: Sequence[str | int] = ("body", "password")) -> None:
    """The one policy for a password being chosen, wherever it is chosen (register, reset, change, user
    administration, `halolight users create-admin`), so that no two ways in can disagree. 422 otherwise:

    - `MIN_LENGTH` to `MAX_LENGTH` characters (Unicode code points, as JSON Schema and pydantic count them):
      the bounds of `NewPassword` in the spec, which the request models already enforce; checked here too for
      the ways in that have no request model (the command line);
    - not one of the most commonly used passwords (OWASP ASVS 6.2.4).
    """
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(loc, f"The password must have at least {MIN_LENGTH} characters", "too_short")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(loc, f"The password must have at most {MAX_LENGTH} characters", "too_long")
    if is_common(password):
        raise ValidationFailed(
            loc,
            "This password is too common: it is on a list of the most used passwords; choose another one",
            COMMON_PASSWORD_TYPE,
        )


def bcrypt_input(password: str) -> bytes:
    """What bcrypt hashes: the password's first 72 bytes in UTF-8, cut exactly as bcryptjs cuts them.

    bcrypt only ever uses 72 bytes of key; bcryptjs (the NestJS backend) silently ignores the rest, while the
    Python `bcrypt` 5 refuses longer input. Cutting at byte 72 (even inside a character) on hash and on verify
    keeps the two interoperable and accepts every password the spec allows (up to 72 characters).
    """
    return password.encode("utf-8")[:BCRYPT_MAX_BYTES]


class PasswordHasher:
    """Hashes in worker threads, at most `max_concurrency` at a time, so logins never stall the event loop."""

    def __init__(self, rounds: int, max_concurrency: int) -> None:
        self._rounds = rounds
        self._slots = asyncio.Semaphore(max_concurrency)
        # Verified against when the email is unknown, so response time does not reveal which emails exist.
        self._dummy_hash = bcrypt.hashpw(b"halolight-dummy-password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        encoded = bcrypt_input(password)
        async with self._slots:
            hashed = await asyncio.to_thread(bcrypt.hashpw, encoded, bcrypt.gensalt(self._rounds))
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check `password` against `hashed`; with `hashed=None` burn the same time and return False."""
        encoded = bcrypt_input(password)
        target = hashed.encode("ascii", "replace") if hashed else self._dummy_hash
        async with self._slots:
            try:
                ok = await asyncio.to_thread(bcrypt.checkpw, encoded, target)
            except ValueError:  # a malformed hash stored by someone else: never a match
                ok = False
        return ok and hashed is not None
