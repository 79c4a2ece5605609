"""Task index: Planner task id -> (rule, fingerprint), so the completion watcher finds a task's link.

PartitionKey = plan id, RowKey = task id (both Planner ids, validated and used verbatim). Why partition
by plan: the watcher works plan by plan, and `list_plan` then reads one plan's whole index in a few
paged requests (about 1,000 rows each) instead of one point read per listed task.

The plan id is known to callers in practice (every Planner task carries its planId, and links store it),
so `get(task_id, plan_id)` is a point read. Without the plan id, `get_by_task` runs a cross-partition
query on RowKey: correct, but a scan of the index (bounded by plans x 9,000 tasks); keep it for rare
paths such as an admin lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from azure.data.tables import TableEntity, UpdateMode

from shared.store.batching import DEFAULT_WORKERS, Entity, fan_out, transactions_by_partition
from shared.store.entity import build_entity
from shared.store.keys import validate_key
from shared.store.table import StoreTable


@dataclass(frozen=True)
class TaskRef:
    """Where a Planner task's link lives."""

    task_id: str
    plan_id: str
    rule_id: str
    fingerprint: str


class TaskIndex:
    """Upsert (in batches), look up, list per plan, and delete task index rows."""

    def __init__(self, table: StoreTable):
        self._table = table

    def put_many(self, refs: Iterable[TaskRef]) -> None:
        """Upsert many rows in as few transactions as the plans (partitions) allow: a pass's new tasks
        cost a request per 100 tasks and plan instead of one each."""
        rows = [self._entity(ref) for ref in refs]
        groups = transactions_by_partition(self._table.name, rows)
        fan_out(self._write_partition, groups, DEFAULT_WORKERS)

    def _write_partition(self, plan_id: str, transactions: list[list[Entity]]) -> None:
        for transaction in transactions:
            self._table.submit([("upsert", row, {"mode": UpdateMode.REPLACE}) for row in transaction])

    def _entity(self, ref: TaskRef) -> dict[str, Any]:
        return build_entity(self._table.name, validate_key(ref.plan_id, "plan_id"),
                            validate_key(ref.task_id, "task_id"),
                            {"rule_id": ref.rule_id, "fingerprint": ref.fingerprint})

    def get(self, task_id: str, plan_id: Optional[str] = None) -> Optional[TaskRef]:
        """Point read when the plan is known; otherwise falls back to `get_by_task` (a scan)."""
        if plan_id is None:
            return self.get_by_task(task_id)
        entity = self._table.get(validate_key(plan_id, "plan_id"), validate_key(task_id, "task_id"))
        return None if entity is None else _ref_from(entity)

    def get_by_task(self, task_id: str) -> Optional[TaskRef]:
        """Find a task without its plan id: cross-partition query on RowKey (see the module docstring)."""
        matches = self._table.query("RowKey eq @task", {"task": validate_key(task_id, "task_id")})
        entity = next(matches, None)
        return None if entity is None else _ref_from(entity)

    def list_plan(self, plan_id: str) -> Iterator[TaskRef]:
        """Stream every indexed task of one plan."""
        yield from (_ref_from(e) for e in
                    self._table.query("PartitionKey eq @plan", {"plan": validate_key(plan_id, "plan_id")}))

    def delete(self, task_id: str, plan_id: Optional[str] = None) -> None:
        """Remove a task's row (no-op when absent); without `plan_id` the row is looked up first."""
        if plan_id is None:
            ref = self.get_by_task(task_id)
            if ref is None:
                return
            plan_id = ref.plan_id
        self._table.delete(validate_key(plan_id, "plan_id"), validate_key(task_id, "task_id"))


def _ref_from(entity: TableEntity) -> TaskRef:
    return TaskRef(task_id=entity["RowKey"], plan_id=entity["PartitionKey"],
                   rule_id=entity["rule_id"], fingerprint=entity["fingerprint"])
