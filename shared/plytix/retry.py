"""Retry timing: how long to wait before the next attempt.

Why a module of its own: the rule is subtle enough to test alone. A server's Retry-After wins when present
(Plytix: UNVERIFIED whether it sends one; Graph does), otherwise exponential backoff with jitter so that
several function instances hitting the same 429 do not retry in lockstep.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Optional


def retry_after_seconds(value: Optional[str], *, now: Optional[datetime] = None) -> Optional[float]:
    """Parse a Retry-After header: delay-seconds or an HTTP-date (RFC 9110, section 10.2.3).

    Fractional seconds are accepted (lenient, harmless). Returns None when absent or unparseable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN check


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with "equal jitter": half the step is fixed, half random, capped at `cap`.

    attempt 0 waits between base/2 and base, attempt 1 between base and 2*base, and so on."""
    step = min(cap, base * (2 ** attempt))
    return step / 2 + rand() * step / 2


def window_ttl_seconds(response: Any) -> Optional[float]:
    """The `ttl` of a live Plytix 429 body ({"message", "limit", "window_size", "ttl"}, API_FACTS.md):
    seconds until the full window ends. None when the body does not say."""
    try:
        ttl = response.json().get("ttl")
    except (ValueError, AttributeError):
        return None
    return float(ttl) if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl >= 0 else None
