"""Scan runs: the state of an on-demand scan, from POST /api/scans to its report.

Why in Table Storage: the request, the queue trigger that does the work and the status route may each
run on a different instance, so the state lives where all of them can read it. Writes are conditional
on the ETag read: a late progress write never overwrites a finished run.

PartitionKey = run id (each run its own partition), RowKey = "scan". Counts live in a JSON `state`
property (the entity codec stores str, bool, datetime and JSON only). The stored report keeps at most
MAX_STORED_ACTIONS actions, so a sweep that plans thousands of actions still fits in one entity (1 MiB);
its counts are always complete and `actions_truncated` says how many actions were left out.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Optional

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableEntity

from shared.store.entity import build_entity, read_datetime, read_etag, read_json, read_str
from shared.store.errors import ConcurrentUpdate, InvalidKey
from shared.store.table import StoreTable

_ROW_KEY = "scan"
MAX_STORED_ACTIONS = 1000
RUN_ID = re.compile(r"^[0-9a-f]{12,32}$")  # what uuid4().hex[:12] gives, with room to grow


class RunStatus(str, Enum):
    queued = "queued"
    running = "running"
    retrying = "retrying"  # a try failed (see `error`); the host tries again
    succeeded = "succeeded"
    failed = "failed"  # the last try failed; the message is in the poison queue


@dataclass
class ScanRun:
    """One on-demand scan. `etag` is None until stored (as far as the holder knows)."""

    run_id: str
    created: datetime
    dry_run: bool = False
    rules: Optional[list[str]] = None
    status: RunStatus = RunStatus.queued
    started: Optional[datetime] = None
    finished: Optional[datetime] = None
    progress: dict[str, int] = field(default_factory=dict)  # products_read, actions_planned, actions_done
    attempts: int = 0
    error: Optional[str] = None
    report: Optional[dict[str, Any]] = None
    etag: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        """What GET /api/scans/{run_id} answers."""
        body: dict[str, Any] = {
            "run_id": self.run_id, "status": self.status.value, "dry_run": self.dry_run, "rules": self.rules,
            "created": self.created.isoformat(), "started": _iso(self.started), "finished": _iso(self.finished),
            "attempts": self.attempts, "progress": {"products_read": 0, "actions_planned": 0, "actions_done": 0,
                                                    **self.progress}}
        if self.error:
            body["error"] = self.error
        if self.report is not None:
            body["report"] = self.report
        return body


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise InvalidKey("a run id is 12 to 32 lower-case hex characters")
    return run_id


def stored_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as kept with the run: all counts, the first MAX_STORED_ACTIONS actions."""
    actions = report.get("actions") or []
    if len(actions) <= MAX_STORED_ACTIONS:
        return report
    return {**report, "actions": actions[:MAX_STORED_ACTIONS], "actions_truncated": len(actions) - MAX_STORED_ACTIONS}


class RunStore:
    """Create, read and conditionally replace scan runs."""

    def __init__(self, table: StoreTable):
        self._table = table

    def create(self, run: ScanRun) -> ScanRun:
        try:
            return dataclasses.replace(run, etag=self._table.create(self._entity(run)))
        except ResourceExistsError:
            raise ConcurrentUpdate(f"scan run {run.run_id!r} exists already") from None

    def get(self, run_id: str) -> Optional[ScanRun]:
        entity = self._table.get(check_run_id(run_id), _ROW_KEY)
        return None if entity is None else _run_from(entity)

    def latest(self, limit: int = 10) -> list[ScanRun]:
        """The `limit` most recently created runs, newest first (the dashboard's last passes). Each run is
        its own partition, so this reads the table; runs are few (one per on-demand scan)."""
        runs = [_run_from(e) for e in self._table.query(None)]
        return sorted(runs, key=lambda run: run.created, reverse=True)[:limit]

    def save(self, run: ScanRun) -> ScanRun:
        """Replace the version read; ConcurrentUpdate if another writer got there first."""
        if run.etag is None:
            raise ConcurrentUpdate(f"scan run {run.run_id!r} was never read; get it first")
        return dataclasses.replace(run, etag=self._table.replace(self._entity(run), run.etag))

    def _entity(self, run: ScanRun) -> dict[str, Any]:
        return build_entity(self._table.name, check_run_id(run.run_id), _ROW_KEY, {
            "request": {"dry_run": run.dry_run, "rules": run.rules}, "status": run.status,
            "created": run.created, "started": run.started, "finished": run.finished,
            "state": {"progress": dict(run.progress), "attempts": run.attempts}, "error": run.error,
            "report": run.report})


def _run_from(entity: TableEntity) -> ScanRun:
    request, state = read_json(entity, "request", {}), read_json(entity, "state", {})
    return ScanRun(
        run_id=entity["PartitionKey"], created=read_datetime(entity, "created"),  # type: ignore[arg-type]  # written with every run row
        dry_run=bool(request.get("dry_run")), rules=request.get("rules"),
        status=RunStatus(read_str(entity, "status")), started=read_datetime(entity, "started"),
        finished=read_datetime(entity, "finished"), progress=state.get("progress") or {},
        attempts=int(state.get("attempts") or 0), error=read_str(entity, "error"),
        report=read_json(entity, "report", None), etag=read_etag(entity))


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value else None
