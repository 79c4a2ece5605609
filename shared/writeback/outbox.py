"""The write-back outbox: one Table Storage row per intended Plytix write, recorded before the PATCH.

Why an outbox: a completion must move its product exactly once although functions retry, run on several
instances at once and can die at any line. The row's id is derived from what is being written back (rule,
finding, task; or the task set), so every watcher, scan and notification that notices the same completion
meets the same row: `add` is a create that a second caller loses (it gets the existing row). Working on a
row takes a lease with a conditional REPLACE, so only one worker at a time may send the PATCH; the outcome
is written after it. A worker that dies anywhere leaves a row that the next one picks up once the lease
has run out, and that worker re-reads the product before writing: a write that already happened is
found done, never sent again (shared/writeback/apply.py).

States: pending (to do; `next_attempt_at` may hold it back) -> applying (leased) -> done | conflict
(guards refused: reported, not applied) | failed (poison: N failures; /api/health counts it,
`POST /api/writebacks/{id}/retry` re-queues it).

PartitionKey = the id (each row its own partition, point reads by id), RowKey = "writeback".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Iterator, Optional

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableEntity

from shared.store.entity import build_entity, read_datetime, read_etag, read_json, read_str, utc_now
from shared.store.errors import InvalidValue
from shared.store.keys import validate_key
from shared.store.table import StoreTable

_ROW_KEY = "writeback"
ID_LENGTH = 32


class WritebackState(str, Enum):
    pending = "pending"
    applying = "applying"
    done = "done"
    conflict = "conflict"
    failed = "failed"


FINAL_STATES = frozenset({WritebackState.done, WritebackState.conflict, WritebackState.failed})


def writeback_id(*parts: str) -> str:
    """Deterministic id: the same completion always names the same row (hex, a valid key)."""
    payload = json.dumps(list(parts), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:ID_LENGTH]


@dataclass
class Writeback:
    id: str
    state: WritebackState
    rule_id: str
    product_id: str
    task_ids: list[str]  # the completed task, or every task of a set
    plan_id: str
    fingerprint: str
    attributes: dict[str, Any]  # label -> value to write
    status: Optional[str] = None  # Draft | Completed | Archived
    expected_stage: Optional[str] = None  # the product's stage when the task was created (the guard)
    target_stage: Optional[str] = None
    reason: str = ""
    attempts: int = 0
    last_error: str = ""
    outcome: str = ""  # what happened, for people: "written", "found done", the conflict...
    written_modified: Optional[str] = None  # the product's `modified` after our PATCH (the echo)
    next_attempt_at: Optional[datetime] = None
    lease_until: Optional[datetime] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    etag: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        """What GET /api/writebacks shows."""
        return {"id": self.id, "state": self.state.value, "rule": self.rule_id, "product": self.product_id,
                "tasks": self.task_ids, "attributes": self.attributes, "status": self.status,
                "expected_stage": self.expected_stage, "target_stage": self.target_stage, "reason": self.reason,
                "attempts": self.attempts, "last_error": self.last_error, "outcome": self.outcome,
                "created": self.created_at.isoformat() if self.created_at else None,
                "updated": self.updated_at.isoformat() if self.updated_at else None}


_SCALARS = ("state", "rule_id", "product_id", "plan_id", "fingerprint", "status", "expected_stage",
            "target_stage", "reason", "last_error", "outcome", "written_modified", "next_attempt_at",
            "lease_until", "created_at", "updated_at")


class Outbox:
    """Add, read, conditionally save and list write-back rows."""

    def __init__(self, table: StoreTable):
        self._table = table

    def add(self, writeback: Writeback) -> tuple[Writeback, bool]:
        """Record the intent. Returns (the stored row, True) or, when the row exists already because
        someone noticed this completion first, (that row, False)."""
        now = utc_now()
        row = dataclasses.replace(writeback, state=WritebackState.pending, created_at=now, updated_at=now)
        try:
            return dataclasses.replace(row, etag=self._table.create(self._entity(row))), True
        except ResourceExistsError:
            existing = self.get(writeback.id)
            if existing is None:  # deleted in between: nothing deletes rows, so this is a store fault
                raise
            return existing, False

    def get(self, writeback_id_: str) -> Optional[Writeback]:
        entity = self._table.get(validate_key(writeback_id_, "write-back id"), _ROW_KEY)
        return None if entity is None else _from_entity(entity)

    def save(self, writeback: Writeback) -> Writeback:
        """REPLACE if nobody wrote since `writeback.etag` (ConcurrentUpdate otherwise); sets updated_at."""
        if not writeback.etag:
            raise InvalidValue("save() needs the row's etag (from add() or get())")
        row = dataclasses.replace(writeback, updated_at=utc_now())
        return dataclasses.replace(row, etag=self._table.replace(self._entity(row), writeback.etag))

    def list(self, state: Optional[WritebackState] = None) -> Iterator[Writeback]:
        """Every row, or those in one state (filtered by the service)."""
        if state is None:
            rows = self._table.query(None)
        else:
            rows = self._table.query("state eq @state", {"state": WritebackState(state).value})
        yield from (_from_entity(e) for e in rows)

    def count(self, state: WritebackState) -> int:
        return sum(1 for _ in self._table.query("state eq @state", {"state": state.value}))

    def _entity(self, row: Writeback) -> dict[str, Any]:
        properties: dict[str, Any] = {name: getattr(row, name) for name in _SCALARS}
        properties.update(task_ids=row.task_ids, attributes=row.attributes, attempts=str(row.attempts))
        return build_entity(self._table.name, validate_key(row.id, "write-back id"), _ROW_KEY, properties)


def _from_entity(entity: TableEntity) -> Writeback:
    return Writeback(
        id=entity["PartitionKey"], state=WritebackState(entity["state"]), rule_id=entity["rule_id"],
        product_id=entity["product_id"], task_ids=read_json(entity, "task_ids", []),
        plan_id=read_str(entity, "plan_id") or "", fingerprint=read_str(entity, "fingerprint") or "",
        attributes=read_json(entity, "attributes", {}), status=read_str(entity, "status"),
        expected_stage=read_str(entity, "expected_stage"), target_stage=read_str(entity, "target_stage"),
        reason=read_str(entity, "reason") or "", attempts=int(entity.get("attempts") or 0),
        last_error=read_str(entity, "last_error") or "", outcome=read_str(entity, "outcome") or "",
        written_modified=read_str(entity, "written_modified"),
        next_attempt_at=read_datetime(entity, "next_attempt_at"), lease_until=read_datetime(entity, "lease_until"),
        created_at=read_datetime(entity, "created_at"), updated_at=read_datetime(entity, "updated_at"),
        etag=read_etag(entity))


__all__ = ["FINAL_STATES", "Outbox", "Writeback", "WritebackState", "writeback_id"]
