"""The rows a pass only appends (audit entries, task index rows), written in batches instead of one by one.

Why: written as each action finished, every audit row was its own one-row transaction (~15 ms against
Azurite) and every new task its own index upsert: half the storage requests of creating a task, and a
quarter of a pass's time (issue 14). Nothing reads these rows during the pass that writes them, so they
are buffered and written per partition, 100 rows to a transaction: when `FLUSH_AT` rows are waiting, and
when the pass ends (`flush()` in a `finally`). A process killed mid-pass loses at most the unflushed rows
(fewer than FLUSH_AT): the trade for a fifth of the requests. The state that makes passes idempotent is
in the links, which are still written at once; the audit is a record, and every task index row can be
rebuilt from its link (task id, plan id, rule, fingerprint).
"""

from __future__ import annotations

import dataclasses
import threading

from shared.store.audit import AuditEntry, AuditStore
from shared.store.entity import utc_now
from shared.store.taskindex import TaskIndex, TaskRef

# Rows buffered before a flush: big enough that most transactions are full, small enough that a crash
# loses little and memory stays flat in long passes.
FLUSH_AT = 500


class PassJournal:
    """Audit entries and task index rows of one pass; thread-safe, flushed in per-partition batches."""

    def __init__(self, audit: AuditStore, task_index: TaskIndex, flush_at: int = FLUSH_AT) -> None:
        self._audit = audit
        self._task_index = task_index
        self._flush_at = flush_at
        self._lock = threading.Lock()
        self._entries: list[AuditEntry] = []
        self._refs: list[TaskRef] = []

    def audit(self, entry: AuditEntry) -> None:
        """Record an entry now (its time is now), write it later."""
        with self._lock:
            self._entries.append(entry if entry.at is not None else dataclasses.replace(entry, at=utc_now()))
            full = len(self._entries) + len(self._refs) >= self._flush_at
        if full:
            self.flush()

    def index(self, ref: TaskRef) -> None:
        with self._lock:
            self._refs.append(ref)
            full = len(self._entries) + len(self._refs) >= self._flush_at
        if full:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered (each entry keeps the time it was recorded, not the time written)."""
        with self._lock:
            entries, self._entries = self._entries, []
            refs, self._refs = self._refs, []
        if entries:
            self._audit.append_many(entries)
        if refs:
            self._task_index.put_many(refs)
