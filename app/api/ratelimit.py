"""Rate limits: a token bucket per API key, and one per client address for requests without a valid key.

Each bucket allows ``rate_limit_per_minute`` requests a minute and ``rate_limit_burst`` at
once; over it the answer is ``429`` with ``Retry-After`` (whole seconds until the next
request is allowed). The buckets live in the server process (each server of a shared
database limits on its own).

With API keys configured, :class:`KeyGate` stands in front of the routes: a request to
``/v1`` or ``/metrics`` without a valid key spends a token of its client address, so
guessing keys is throttled like any key's traffic, and ``/metrics`` answers only with a
valid key (it tells how busy the service is and how its jobs end, which is for the
operator's scraper, not for anyone who can reach the port). Behind a reverse proxy every
client has the proxy's address unless uvicorn is told to trust its ``X-Forwarded-For``
(``FORWARDED_ALLOW_IPS``). An open service (no keys) has no identity to limit by and
limits nothing: put a proxy in front of it if it needs a limit.
"""

from __future__ import annotations

import math
import threading
import time

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.auth import KeyRing
from app.api.errors import RATE_LIMITED, ApiError, problem_response

#: Buckets idle this long are dropped (they are full again by then).
_IDLE_SECONDS = 3600.0
#: The Prometheus endpoint, which needs a key when keys are configured.
METRICS_PATH = "/metrics"


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

    def over(self, key: str, who: str) -> ApiError | None:
        """The 429 (with Retry-After) when ``key`` is over its rate, ``who`` naming it to the client; else None."""
        wait = self.take(key)
        if wait <= 0:
            return None
        seconds = max(1, math.ceil(wait))
        return ApiError(
            429,
            f"{who} is over its rate of {self.rate * 60:g} requests a minute; retry in {seconds} s",
            type=RATE_LIMITED,
            headers={"Retry-After": str(seconds)},
        )

    def check(self, key: str) -> None:
        """429 with Retry-After when the API key ``key`` is over its rate."""
        if (error := self.over(key, "this API key")) is not None:
            raise error


def presented_key(headers: Headers) -> str | None:
    """The API key a request carries: ``Authorization: Bearer <key>``, else ``X-API-Key``."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key")


class KeyGate:
    """With keys configured: requests to ``/v1`` and ``/metrics`` without a valid key are
    limited per client address, and ``/metrics`` is refused without one (401)."""

    def __init__(self, app: ASGIApp, keys: KeyRing, limiter: RateLimiter) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.keys.open or not _guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.keys.owner(presented_key(request.headers)) is not None:
            await self.app(scope, receive, send)
            return
        address = request.client.host if request.client is not None else "unknown"
        error = self.limiter.over(f"address:{address}", f"{address}, sending requests without a valid API key,")
        if error is None and scope["path"] == METRICS_PATH:
            error = ApiError(
                401,
                "a valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if error is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(request, error.status, error.detail, type=error.type, headers=error.headers)
        await response(scope, receive, send)


def _guarded(path: str) -> bool:
    return path.startswith("/v1/") or path == METRICS_PATH
