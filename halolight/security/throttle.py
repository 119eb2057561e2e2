"""Throttling of login and forgot-password, per account and per client address (library: `limits`)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from halolight.errors import TooManyRequests


class Throttle:
    def __init__(self, rate: str) -> None:
        self._item: RateLimitItem = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, action: str, *keys: str) -> None:
        """Count one attempt against every key; 429 with Retry-After if any of them is over the limit."""
        for key in keys:
            if not await self._limiter.hit(self._item, action, key):
                stats = await self._limiter.get_window_stats(self._item, action, key)
                raise TooManyRequests(max(1, math.ceil(stats.reset_time - time.time())))
