"""A cached answer for /api/health, so that probes calling it every few seconds cost no upstream call.

Why: a fresh check makes one Plytix call, a storage query and one Graph call per plan. Azure's health
probes and monitors poll every few seconds, which at the free Plytix plan's 2,000 calls an hour would spend
the budget on health alone (issue 14). The checks are therefore kept for HEALTH_CACHE_SECONDS and the
answer says how old it is; `?deep=true` forces a fresh check.

Only one request refreshes at a time: while it does, others get the previous answer at once (with its
age) instead of queueing behind the upstream calls, unless there is no previous answer yet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class _Checked:
    status: int
    body: dict[str, Any]
    at_monotonic: float
    at: datetime


class HealthCache:
    """The latest checked answer, refreshed when older than the caller's limit or when forced."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._latest: Optional[_Checked] = None
        self._refreshing = threading.Lock()

    def answer(self, check: Callable[[], Reply], *, max_age: float, force: bool = False) -> Reply:
        """The cached answer if younger than `max_age` seconds (and not forced), else a fresh `check()`.
        The body gains `checked_at` (UTC), `age_seconds` and `cached`."""
        latest = self._latest
        if not force and latest is not None and self._clock() - latest.at_monotonic < max_age:
            return self._reply(latest, cached=True)
        if not self._refreshing.acquire(blocking=force or latest is None):
            assert latest is not None  # only a request that has an answer to give does not wait
            return self._reply(latest, cached=True)
        try:
            current = self._latest
            if not force and current is not None and current is not latest and \
                    self._clock() - current.at_monotonic < max_age:
                return self._reply(current, cached=True)  # refreshed while we waited for the lock
            status, body = check()
            self._latest = _Checked(status, body, self._clock(), datetime.now(timezone.utc))
            return self._reply(self._latest, cached=False)
        finally:
            self._refreshing.release()

    def _reply(self, checked: _Checked, *, cached: bool) -> Reply:
        age = max(0.0, self._clock() - checked.at_monotonic)
        return checked.status, {**checked.body, "checked_at": checked.at.isoformat(timespec="seconds"),
                                "age_seconds": round(age, 1), "cached": cached}
