"""The Plytix stand-in's tokens, rate-limit windows and run-time switches.

Why a separate module: the real service's access rules (15-minute tokens, the token endpoint's own limit of
about 8 requests a second, two fixed rate-limit windows that answer 429 until they expire) are what the
client must survive, and tests reshape them at run time through POST /_sandbox/config. Keeping them apart
from the routes in sandbox/plytix.py keeps that state in one small place, with the sources of each rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

TOKEN_RATE_PER_SECOND = 8  # the token endpoint's own limit, "about 8 requests/second" (API_FACTS.md)


# ---------------------------------------------------------------------------------------------------
# Tokens and rate limits
# ---------------------------------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class _TokenIssuer:
    """HS256 JWT-shaped tokens; the issuer remembers each token's expiry so it can expire them all."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self, lifetime: float) -> str:
        now = time.time()
        jti = secrets.token_hex(12)
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({"sub": "sandbox-account", "type": "access", "jti": jti,
                                      "iat": now, "exp": now + lifetime}).encode())
        signature = _b64url(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        self._expiry = {k: v for k, v in self._expiry.items() if v > now - 3600}
        self._expiry[jti] = now + lifetime
        self.issued += 1
        return f"{header}.{payload}.{signature}"

    def problem(self, token: str) -> Optional[str]:
        """Why `token` is not acceptable, or None when it is."""
        parts = token.split(".")
        if len(parts) != 3:
            return "Invalid token"
        expected = _b64url(hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return "Invalid token"
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return "Invalid token"
        expiry = self._expiry.get(claims.get("jti"), 0.0)
        return "Token has expired" if time.time() >= expiry else None

    def expire_all(self) -> None:
        now = time.time()
        self._expiry = {k: min(v, now) for k, v in self._expiry.items()}


class _FixedWindow:
    """A fixed window counter: "all subsequent requests to the API will return an 429 error code until
    the time interval expires" and "every single request counts as a hit" (collection, API Limits)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._started: Optional[float] = None
        self._hits = 0

    def hit(self, limit: int, now: float) -> Optional[float]:
        """Count one hit; return the seconds until the window frees when over `limit`, else None."""
        if self._started is None or now >= self._started + self.seconds:
            self._started, self._hits = now, 0
        self._hits += 1
        return None if self._hits <= limit else self._started + self.seconds - now


@dataclass
class SandboxConfig:
    """Run-time switches (POST /_sandbox/config)."""

    token_lifetime: float = 900.0  # "Token lives 15 minutes (exp-iat = 900 s)"
    rate_per_10s: Optional[int] = None
    rate_per_hour: Optional[int] = None
    retry_after: bool = False  # whether 429s carry Retry-After: UNVERIFIED for the real API
    deprecated: dict[str, str] = field(default_factory=dict)  # endpoint name -> X-Plytix-Deprecation value

    def update(self, changes: dict[str, Any]) -> None:
        """Validate every change first, then apply them all (ValueError names the bad one)."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        for name, value in changes.items():
            if name == "token_lifetime" and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                             or value < 0):
                raise ValueError("token_lifetime must be a number >= 0")
            if name in ("rate_per_10s", "rate_per_hour") and value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be null or an integer >= 1")
            if name == "retry_after" and not isinstance(value, bool):
                raise ValueError("retry_after must be true or false")
            if name == "deprecated" and (not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
                raise ValueError("deprecated must map endpoint names to header values")
        for name, value in changes.items():
            setattr(self, name, float(value) if name == "token_lifetime" else value)
