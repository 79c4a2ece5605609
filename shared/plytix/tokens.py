"""The Plytix access-token cache.

Plytix tokens live 15 minutes and the token endpoint has its own limit of about 8 requests per second
(API_FACTS.md), so the token is cached, refreshed shortly BEFORE it expires, refreshed once more when a
call still gets 401, and fetched by one thread at a time.

The expiry is read from the JWT's own `iat`/`exp` claims (not verified: we are the audience, not the
issuer) and measured on the local monotonic clock from the moment the fetch started, so a skewed system
clock on either side cannot make a fresh token look expired or an expired one look fresh.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Callable, Optional

DEFAULT_LIFETIME = 900.0  # "Token lives 15 minutes (exp-iat = 900 s)" (API_FACTS.md)


def token_lifetime(token: str) -> Optional[float]:
    """exp - iat from a JWT's payload, or None when the token is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        lifetime = float(claims["exp"]) - float(claims["iat"])
    except (ValueError, KeyError, TypeError):
        return None
    return lifetime if lifetime >= 0 else None


class TokenCache:
    """Holds one token; `get()` returns it, fetching a new one when it is missing or about to expire.

    The refresh margin is a fifth of the lifetime, at most `max_margin` seconds (60 s of a 15-minute
    token), so short-lived tokens in tests are refreshed proportionally early too."""

    def __init__(self, fetch: Callable[[], str], *, clock: Callable[[], float] = time.monotonic,
                 max_margin: float = 60.0) -> None:
        self._fetch = fetch
        self._clock = clock
        self._max_margin = max_margin
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._refresh_at = 0.0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                started = self._clock()
                token = self._fetch()
                lifetime = token_lifetime(token)
                lifetime = DEFAULT_LIFETIME if lifetime is None else lifetime
                self._token = token
                self._refresh_at = started + lifetime - min(self._max_margin, lifetime / 5)
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` after a 401, unless another thread already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    @property
    def current(self) -> Optional[str]:
        return self._token

    def __repr__(self) -> str:
        return f"TokenCache(cached={self._token is not None})"
