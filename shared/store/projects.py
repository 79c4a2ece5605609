"""What catalog projects (job 7) keep between passes: who is in a project, and how far each task has got.

Why stored: a project's membership is decided product by product as passes read them (an incremental pass
reads only the changed ones), but its tasks list whole groups; and its progress is read from Planner by
the refresh (shared/projects/progress.py) while the pages and the JSON API only read this table.

Rows (PartitionKey / RowKey, every outside value escaped), one partition per project and kind:
- `<rule>.m` / product id: a member: its group key and name, SKU and label;
- `<rule>.t` / fingerprint: one task's progress: milestone, group, task id, percent, checklist counts
  as last read, the products ticked, late or not;
- `<rule>.w` / product id: the furthest milestone already sent to Plytix for the product (write-backs
  themselves go through job 4's outbox, exactly once; this row only spares the outbox a request per
  product per refresh).
A project of N products is read in about N/1,000 requests (one query page holds 1,000 entities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from shared.store.batching import MAX_BATCH_OPERATIONS, transactions_by_partition
from shared.store.entity import build_entity, read_json, read_str
from shared.store.keys import escape_key, key_for, unescape_key
from shared.store.table import StoreTable


@dataclass(frozen=True)
class ProjectMember:
    product_id: str
    group: str  # the grouping key: a category path or family id
    group_name: str  # as people read it
    sku: str
    label: str


def by_group(members: Iterable[ProjectMember]) -> dict[str, list[ProjectMember]]:
    """Members by group key (a project's tasks and its report are per group)."""
    groups: dict[str, list[ProjectMember]] = {}
    for member in members:
        groups.setdefault(member.group, []).append(member)
    return groups


@dataclass(frozen=True)
class TaskProgress:
    """One project task (a milestone for a group) as the last refresh saw it in Planner."""

    fingerprint: str
    milestone: str
    group: str
    group_name: str
    task_id: str
    plan_id: str
    percent: int  # Planner's percentComplete: 0, 50 or 100
    checklist_items: int
    checklist_open: int
    products: int  # members of the group
    done_products: tuple[str, ...] = field(default_factory=tuple)  # product ids ticked (or all: completed)
    late: bool = False


class ProjectStore:
    """Members, task progress and written-back milestones per `catalog_project` rule."""

    def __init__(self, table: StoreTable):
        self._table = table

    @staticmethod
    def _partition(rule_id: str, kind: str) -> str:
        return key_for(f"{rule_id}.{kind}", "rule id")

    # ---- members ------------------------------------------------------------------------------------

    def members(self, rule_id: str) -> dict[str, ProjectMember]:
        found = {}
        for entity in self._table.query("PartitionKey eq @pk", {"pk": self._partition(rule_id, "m")}):
            product_id = unescape_key(entity["RowKey"])
            found[product_id] = ProjectMember(product_id, read_str(entity, "group") or "",
                                              read_str(entity, "group_name") or "", read_str(entity, "sku") or "",
                                              read_str(entity, "label") or "")
        return found

    def save_members(self, rule_id: str, joined: Iterable[ProjectMember], left: Iterable[str]) -> None:
        """Upsert members that joined or changed, delete those that left: in batches of 100 (one
        partition, so one entity group transaction each)."""
        partition = self._partition(rule_id, "m")
        self._upsert([build_entity(self._table.name, partition, escape_key(m.product_id),
                                   {"group": m.group, "group_name": m.group_name, "sku": m.sku, "label": m.label})
                      for m in joined])
        self._delete(partition, left)

    # ---- task progress ------------------------------------------------------------------------------

    def progress(self, rule_id: str) -> dict[str, TaskProgress]:
        found = {}
        for entity in self._table.query("PartitionKey eq @pk", {"pk": self._partition(rule_id, "t")}):
            fp = unescape_key(entity["RowKey"])
            found[fp] = TaskProgress(
                fingerprint=fp, milestone=read_str(entity, "milestone") or "", group=read_str(entity, "group") or "",
                group_name=read_str(entity, "group_name") or "", task_id=read_str(entity, "task_id") or "",
                plan_id=read_str(entity, "plan_id") or "", percent=int(entity.get("percent") or 0),
                checklist_items=int(entity.get("checklist_items") or 0),
                checklist_open=int(entity.get("checklist_open") or 0), products=int(entity.get("products") or 0),
                done_products=tuple(read_json(entity, "done_products", [])), late=bool(entity.get("late")))
        return found

    def save_progress(self, rule_id: str, rows: Iterable[TaskProgress]) -> None:
        partition = self._partition(rule_id, "t")
        self._upsert([build_entity(self._table.name, partition, escape_key(p.fingerprint), {
            "milestone": p.milestone, "group": p.group, "group_name": p.group_name, "task_id": p.task_id,
            "plan_id": p.plan_id, "percent": str(p.percent), "checklist_items": str(p.checklist_items),
            "checklist_open": str(p.checklist_open), "products": str(p.products), "done_products": list(p.done_products),
            "late": p.late}) for p in rows])

    def forget_progress(self, rule_id: str, fingerprints: Iterable[str]) -> None:
        self._delete(self._partition(rule_id, "t"), fingerprints)

    # ---- milestones sent to Plytix --------------------------------------------------------------------

    def written(self, rule_id: str) -> dict[str, int]:
        """Product id -> the number of milestones already sent (in milestone order)."""
        return {unescape_key(e["RowKey"]): int(e.get("reached") or 0)
                for e in self._table.query("PartitionKey eq @pk", {"pk": self._partition(rule_id, "w")})}

    def mark_written(self, rule_id: str, reached: dict[str, int]) -> None:
        partition = self._partition(rule_id, "w")
        self._upsert([build_entity(self._table.name, partition, escape_key(pid), {"reached": str(n)})
                      for pid, n in reached.items()])

    # ---- writes, batched --------------------------------------------------------------------------------

    def _upsert(self, entities: list[dict[str, Any]]) -> None:
        """Entity group transactions sized by count and payload (a row may list thousands of products)."""
        for transactions in transactions_by_partition(self._table.name, entities).values():
            for transaction in transactions:
                self._table.submit([("upsert", entity) for entity in transaction])

    def _delete(self, partition: str, row_ids: Iterable[str]) -> None:
        operations = [("delete", {"PartitionKey": partition, "RowKey": escape_key(row_id)}) for row_id in row_ids]
        for start in range(0, len(operations), MAX_BATCH_OPERATIONS):
            self._table.submit(operations[start:start + MAX_BATCH_OPERATIONS])
