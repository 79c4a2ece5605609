"""Audit: an append-only record of every action taken (or that a dry run would take), with its reason.

A product's rows live in one of 16 partitions chosen by a hash of its id ("products-<hex digit>"), under
RowKey "<escaped id>!<time>": one product's history is one contiguous RowKey range, and the rows of a
pass's actions share few partitions, so a pass writes them in a few transactions (one per partition and
100 rows) instead of one request per action. "!" is escaped inside the id, so no id's range holds another's.
Actions about a whole plan (it is full) go to "plan:<escaped id>", other actions on no single product to
"rule:<escaped id>" (or "general"), with RowKey "<time>". The time part
is UTC to the microsecond, a sequence number within the append call and a random suffix: it sorts
chronologically (fixed-width ISO text sorts like time), keeps entries of one call in order, and never
collides across instances. Rows written before this layout (PartitionKey "product:<escaped id>") are
still read.

"What did run X do" is answered by the scan's report and by the `task_action` log events (each carries
the run id, see shared/observability.py); a second copy per run here would double the audit writes of
every action for a view nothing reads (measured in bench/scan_cost.py: audit was a third of a pass).

Rows are only ever inserted (never upserted), so nothing can overwrite history; this store has no update
or delete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Optional

from azure.data.tables import TableEntity

from shared.store.batching import DEFAULT_WORKERS, Entity, fan_out, transactions_by_partition
from shared.store.entity import build_entity, read_datetime, read_json, read_str, utc_now
from shared.store.errors import InvalidValue
from shared.store.keys import key_for, validate_key
from shared.store.table import StoreTable


@dataclass
class AuditEntry:
    action: str
    reason: str
    rule_id: Optional[str] = None
    product_id: Optional[str] = None
    fingerprint: Optional[str] = None
    task_id: Optional[str] = None
    run_id: Optional[str] = None
    dry_run: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    at: Optional[datetime] = None  # set at append when None
    plan_id: Optional[str] = None  # for actions about a whole plan (e.g. it is full)


_SUMMARY_FIELDS = ("action", "rule_id", "dry_run", "at")  # what since() reads: counts, not the reasons
_FIELDS = ("action", "reason", "rule_id", "product_id", "fingerprint", "task_id", "run_id", "dry_run",
           "details", "at", "plan_id")


class AuditStore:
    """Append entries; read them back per product or per run, oldest first."""

    def __init__(self, table: StoreTable, max_workers: int = DEFAULT_WORKERS):
        self._table = table
        self._max_workers = max_workers

    def append(self, entry: AuditEntry) -> AuditEntry:
        """Insert one entry; returns it with `at` set."""
        return self.append_many([entry])[0]

    def append_many(self, entries: Iterable[AuditEntry]) -> list[AuditEntry]:
        """Insert entries in as few transactions as the partitions allow; returns them with `at` set.

        All rows are built (and checked) before the first write.
        """
        now = utc_now()
        stamped = [e if e.at is not None else dataclasses.replace(e, at=now) for e in entries]
        rows = []
        for seq, entry in enumerate(stamped):
            rows.extend(self._rows(entry, seq))
        groups = transactions_by_partition(self._table.name, rows)
        fan_out(self._write_partition, groups, self._max_workers)
        return stamped

    def for_product(self, product_id: str, limit: int = 200) -> list[AuditEntry]:
        """The latest `limit` entries of a product, oldest first: its rows in the older per-product
        partition, then its RowKey range in its hash partition (newer by construction)."""
        latest: deque[AuditEntry] = deque(maxlen=limit)
        latest.extend(_entry_from(e) for e in self._table.query(
            "PartitionKey eq @pk", {"pk": _LEGACY_PRODUCT_PREFIX + key_for(product_id, "product_id")}))
        prefix = _product_row_prefix(product_id)
        latest.extend(_entry_from(e) for e in self._table.query(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": _product_partition(product_id), "lo": prefix, "hi": prefix[:-1] + _AFTER_SEPARATOR}))
        return list(latest)

    def for_plan(self, plan_id: str, limit: int = 200) -> list[AuditEntry]:
        """The latest `limit` entries about a whole plan (its capacity), oldest first."""
        latest: deque[AuditEntry] = deque(maxlen=limit)
        latest.extend(_entry_from(e) for e in self._table.query("PartitionKey eq @pk",
                                                                 {"pk": _plan_partition(plan_id)}))
        return list(latest)

    def since(self, start: datetime) -> Iterator[AuditEntry]:
        """Stream the entries of every partition stamped at or after `start` (in the service's order: by
        partition, then time). Why a property filter across partitions: the dashboard counts actions per
        day, and the rows are spread by product; the service skips older rows, we never page them in. Only
        the columns the counts need are read, and the caller counts as rows arrive (memory flat)."""
        rows = self._table.query("at ge @since", {"since": start.astimezone(timezone.utc)},
                                 select=list(_SUMMARY_FIELDS))
        for entity in rows:
            yield AuditEntry(action=entity["action"], reason="", rule_id=read_str(entity, "rule_id"),
                             dry_run=bool(entity.get("dry_run", False)), at=read_datetime(entity, "at"))

    def _rows(self, entry: AuditEntry, seq: int) -> list[dict[str, Any]]:
        if not entry.action or not entry.reason:
            raise InvalidValue("an audit entry needs an action and a reason")
        if entry.at is None or entry.at.tzinfo is None:
            raise InvalidValue("audit.at must be a timezone-aware datetime")
        at = entry.at.astimezone(timezone.utc)
        row_key = f"{at:%Y-%m-%dT%H:%M:%S.%f}Z-{seq:06d}-{secrets.token_hex(4)}"
        if entry.product_id is not None:
            partition = _product_partition(entry.product_id)
            row_key = _product_row_prefix(entry.product_id) + row_key
        elif entry.plan_id is not None:
            partition = _plan_partition(entry.plan_id)
        elif entry.rule_id is not None:
            partition = "rule:" + key_for(entry.rule_id, "rule_id")
        else:
            partition = "general"
        row_key = validate_key(row_key, "audit row key")
        properties = {name: getattr(entry, name) for name in _FIELDS}
        return [build_entity(self._table.name, partition, row_key, properties)]

    def _write_partition(self, partition: str, transactions: list[list[Entity]]) -> None:
        for transaction in transactions:
            self._table.submit([("create", row) for row in transaction])


_LEGACY_PRODUCT_PREFIX = "product:"
_SEPARATOR, _AFTER_SEPARATOR = "!", '"'  # consecutive characters: [id + "!", id + '"') is one product


def _plan_partition(plan_id: str) -> str:
    return "plan:" + key_for(plan_id, "plan_id")


def _product_partition(product_id: str) -> str:
    """One of 16 partitions, stable across processes (sha256, not hash())."""
    return "products-" + hashlib.sha256(product_id.encode("utf-8")).hexdigest()[0]


def _product_row_prefix(product_id: str) -> str:
    """The escaped id with "!" escaped too (as %21, which unescape_key reads back), then the separator."""
    return key_for(product_id, "product_id").replace(_SEPARATOR, "%21") + _SEPARATOR


def _entry_from(entity: TableEntity) -> AuditEntry:
    return AuditEntry(action=entity["action"], reason=entity["reason"], rule_id=read_str(entity, "rule_id"),
                      product_id=read_str(entity, "product_id"), fingerprint=read_str(entity, "fingerprint"),
                      task_id=read_str(entity, "task_id"), run_id=read_str(entity, "run_id"),
                      dry_run=bool(entity.get("dry_run", False)), details=read_json(entity, "details", {}),
                      at=read_datetime(entity, "at"), plan_id=read_str(entity, "plan_id"))
