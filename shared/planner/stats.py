"""Per-endpoint call and throttle counts of one PlannerClient (benches and the demo print them).

Why count in the client: every attempt, including the ones our own retry loop makes after a 429, is a
request Graph's throttling budget sees; the counts make that cost visible next to the sandbox's own.
"""

from __future__ import annotations

import threading
from collections import Counter


class PlannerStats:
    """Thread-safe counters: `calls[endpoint]` attempts sent, `throttled[endpoint]` 429 answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def record_call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def record_throttle(self, endpoint: str) -> None:
        with self._lock:
            self.throttled[endpoint] += 1

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    @property
    def total_throttled(self) -> int:
        with self._lock:
            return sum(self.throttled.values())

    def snapshot(self) -> dict[str, object]:
        """A copy safe to print or serialise: {"calls": {...}, "throttled": {...}, "total_calls": n,
        "total_throttled": n}."""
        with self._lock:
            calls, throttled = dict(self.calls), dict(self.throttled)
        return {"calls": calls, "throttled": throttled, "total_calls": sum(calls.values()),
                "total_throttled": sum(throttled.values())}

    def __repr__(self) -> str:
        return f"PlannerStats({self.snapshot()})"
