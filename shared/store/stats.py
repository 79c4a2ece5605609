"""Counts of storage requests per table and kind.

Why: Table Storage bills and throttles per request (a transaction of up to 100 entities is one request),
so benches and tests assert on request counts ("250 snapshots in 3 partitions took 3 batches") instead of
guessing from timings. Thread-safe because get_many/put_many fan out over a thread pool.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Optional


class StoreStats:
    """Request counters keyed by (logical table name, kind).

    Kinds: create, read, replace, upsert, delete, query (one per page fetched), batch (one per
    transaction), create_table.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, table: str, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(table, kind)] += n

    def count(self, table: Optional[str] = None, kind: Optional[str] = None) -> int:
        """Requests matching `table` and `kind` (None matches any)."""
        with self._lock:
            return sum(n for (t, k), n in self._counts.items()
                       if (table is None or t == table) and (kind is None or k == kind))

    def as_dict(self) -> dict[str, dict[str, int]]:
        """{table: {kind: count}}, a copy, for bench reports."""
        with self._lock:
            result: dict[str, dict[str, int]] = {}
            for (table, kind), n in sorted(self._counts.items()):
                result.setdefault(table, {})[kind] = n
            return result

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
