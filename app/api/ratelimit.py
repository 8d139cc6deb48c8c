"""A token bucket per API key: ``rate_limit_per_minute`` requests a minute, ``rate_limit_burst`` at once.

A key over its rate gets ``429`` with ``Retry-After`` (whole seconds until its next
request is allowed). The buckets live in the server process (each server of a shared
database limits on its own) and only exist with API keys: an open service has no
identity to limit by, so put a proxy in front of it if it needs one.
"""

from __future__ import annotations

import math
import threading
import time

from app.api.errors import RATE_LIMITED, ApiError

#: Buckets idle this long are dropped (they are full again by then).
_IDLE_SECONDS = 3600.0


class RateLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float:
        """Spend one request of ``key``: 0 if allowed, else seconds until one is."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if now - self._swept > _IDLE_SECONDS:
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < _IDLE_SECONDS}
                self._swept = now
        return wait

    def check(self, key: str) -> None:
        """429 with Retry-After when ``key`` is over its rate."""
        wait = self.take(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"this API key is over its rate of {self.rate * 60:g} requests a minute; retry in {seconds} s",
                type=RATE_LIMITED,
                headers={"Retry-After": str(seconds)},
            )
