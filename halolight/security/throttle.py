"""Throttling of authentication attempts (library: `limits`, moving windows, in process memory).

Login, as chosen against both guessing and lock-out (issue 12, item 24):

- every attempt counts against the client address (`AUTH_RATE_LIMIT`, 429 beyond it);
- only failed attempts count against the account (a wrong password, an unknown or inactive account), so
  logging in successfully never uses up anyone's budget;
- while an account's failures from all addresses together are within `AUTH_RATE_LIMIT`, nothing else is
  refused. Beyond it (guessing spread over many addresses) the account is "under attack" and every address
  that has itself failed on that account within the window is refused (429) until the window has passed;
  addresses that have not failed on it, such as the owner's, are never refused because of others' failures.
  So a stranger's failures cannot lock the owner out at all, and the owner's own mistyping during an
  attack costs at most one window (one minute by default), the bounded backoff.

Other actions (register, forgot-password, reset-password, change-password) count every attempt against each
key given. Reset-password counts every attempt per client address, not only failures: the count is one
atomic `hit` (a check-then-record of failures would let parallel guesses through between the two), and an
honest client needs a mailed token for each attempt, so it never comes near the limit.
Reset mails are also capped per address (`PASSWORD_RESET_MAIL_LIMIT`) without any visible answer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from halolight.errors import ServiceUnavailable, TooManyRequests

log = logging.getLogger("halolight.throttle")


def build_storage(url: str) -> Storage:
    """`memory://` (one process; development and tests) or `redis://` / `rediss://` (shared by every worker
    and host: what a deployment with more than one worker needs)."""
    if url == "memory://":
        return MemoryStorage()
    storage = storage_from_string(
        "async+" + url, implementation="redispy", wrap_exceptions=True, key_prefix="halolight-throttle"
    )
    assert isinstance(storage, Storage)
    return storage


@contextmanager
def _storage_errors(what: str = "Authentication") -> Iterator[None]:
    # Fail closed: while the shared counters cannot be read, attempts cannot be counted, so they are
    # refused (503, like a database outage) rather than let through unthrottled.
    try:
        yield
    except StorageError as error:
        log.error("throttle storage unavailable: %s", error)
        raise ServiceUnavailable(f"{what} is temporarily unavailable", headers={"Retry-After": "5"}) from None


@cache
def _parsed(rate: str) -> RateLimitItem:
    return parse(rate)


class Throttle:
    def __init__(
        self, rate: str, reset_mail_rate: str = "3/15 minutes", storage_url: str = "memory://"
    ) -> None:
        self._item: RateLimitItem = parse(rate)
        self._mail_item: RateLimitItem = parse(reset_mail_rate)
        self._limiter = MovingWindowRateLimiter(build_storage(storage_url))

    async def hit(self, action: str, *keys: str) -> None:
        """Count one attempt against every key; 429 with Retry-After if any of them is over the limit."""
        await self._hit(self._item, action, keys)

    async def hit_rate(self, rate: str, action: str, *keys: str, what: str) -> None:
        """`hit` at a rate of its own (a setting such as FILES_SHARE_RATE_LIMIT, parsed once); `what` names
        the throttled service in the 503 while the counters cannot be read ("Opening shared links")."""
        await self._hit(_parsed(rate), action, keys, what)

    async def _hit(
        self, item: RateLimitItem, action: str, keys: tuple[str, ...], what: str = "Authentication"
    ) -> None:
        with _storage_errors(what):
            for key in keys:
                if not await self._limiter.hit(item, action, key):
                    raise TooManyRequests(await self._retry_after(item, action, key))

    async def check_login(self, account: str, address: str) -> None:
        """Before a password is checked: count the attempt against the address, then refuse an address that
        has failed on an account which is over its failure budget (see the module docstring)."""
        with _storage_errors():
            await self.hit("login", f"ip:{address}")
            if await self._limiter.test(self._item, "login-failed", account):
                return  # the account's failures are within budget
            pair = await self._limiter.get_window_stats(self._item, "login-failed", account, address)
            if pair.remaining < self._item.amount:  # this address failed on this account within the window
                raise TooManyRequests(await self._retry_after(self._item, "login-failed", account, address))

    async def login_failed(self, account: str, address: str) -> None:
        with _storage_errors():
            await self._limiter.hit(self._item, "login-failed", account)
            await self._limiter.hit(self._item, "login-failed", account, address)

    async def reset_mail_allowed(self, address: str) -> bool:
        """Count one reset mail to `address` (normalized); False when over the cap (send nothing then)."""
        with _storage_errors():
            return bool(await self._limiter.hit(self._mail_item, "reset-mail", address))

    async def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))
