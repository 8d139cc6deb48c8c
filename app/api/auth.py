"""Optional API keys: with ``PACE_API_KEYS`` set, every ``/v1`` call needs one.

Keys are kept only as SHA-256 digests (a key may also be configured as ``sha256:<hex>``
so the plain key never sits in the environment) and compared in constant time. A job's
owner is the digest of the key that submitted it, so a key sees only its own jobs;
without keys the service is open and every job belongs to ``anonymous``. Each key is
rate limited (:mod:`app.api.ratelimit`).

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.api.errors import ApiError

ANONYMOUS = "anonymous"
_PREFIX = "sha256:"

_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """The configured keys, as digests; empty means the service is open."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [k[len(_PREFIX) :].lower() if k.startswith(_PREFIX) else digest(k) for k in keys]

    @property
    def open(self) -> bool:
        return not self._digests

    def owner(self, key: str | None) -> str | None:
        """The owner id for ``key``, or None if it is not one of the configured keys."""
        if self.open:
            return ANONYMOUS
        if not key:
            return None
        candidate = digest(key)
        match = None
        for known in self._digests:
            if hmac.compare_digest(candidate, known):
                match = known
        return match


def current_owner(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> str:
    """The caller's owner id; 401 when keys are configured and none of them was given."""
    services = request.app.state.services
    keys: KeyRing = services.keys
    owner = keys.owner(bearer.credentials if bearer is not None else header)
    if owner is None:
        raise ApiError(
            401,
            "a valid API key is required (Authorization: Bearer <key> or X-API-Key: <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not keys.open:
        services.limiter.check(owner)
    return owner


Owner = Annotated[str, Depends(current_owner)]
