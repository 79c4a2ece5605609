"""What our own write-backs wrote, so that later passes and the change feed recognise their own echo.

Why: Plytix sends no product webhooks, so changes are found by polling `modified` (API_FACTS.md), and our
own PATCH moves `modified` too. Without a record, the change feed (jobs 2 and 3) would take the stage we
just set for a person's edit and open a review task for it. Each write-back records the values it
writes before its PATCH, then the `modified` the PATCH answered with.

The API for the change feed is two calls:
- `is_own_write(product_id, modified)`: True when the product's current `modified` is exactly the one our
  write produced, i.e. nobody changed the product since (a point-in-partition query, one request);
- `written(product_id)`: every write-back of the product with its values, newest last, to tell which
  watched values a later snapshot diff should not attribute to a person.

PartitionKey = "product:<escaped id>", RowKey = the write-back id (a retry of the same write-back
overwrites its own row: one row per write-back, never two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from shared.store.entity import build_entity, read_datetime, read_json, read_str, utc_now
from shared.store.keys import key_for, validate_key
from shared.store.table import StoreTable


@dataclass(frozen=True)
class Echo:
    product_id: str
    writeback_id: str
    values: dict[str, Any]  # {"attributes": {...}, "status": ...} as sent
    modified: Optional[str]  # the product's `modified` in the PATCH's answer
    at: Optional[datetime]


class EchoLog:
    """Record and look up our own Plytix writes."""

    def __init__(self, table: StoreTable):
        self._table = table

    def record(self, product_id: str, writeback_id: str, values: dict[str, Any], modified: Optional[str]) -> Echo:
        echo = Echo(product_id, writeback_id, values, _normal(modified), utc_now())
        self._table.upsert(build_entity(self._table.name, _partition(product_id),
                                        validate_key(writeback_id, "write-back id"),
                                        {"values": values, "modified": echo.modified, "at": echo.at}))
        return echo

    def is_own_write(self, product_id: str, modified: Optional[str]) -> bool:
        """Is this version of the product the one our own write-back produced?"""
        wanted = _normal(modified)
        if not wanted:
            return False
        rows = self._table.query("PartitionKey eq @pk and modified eq @m",
                                 {"pk": _partition(product_id), "m": wanted})
        return next(rows, None) is not None

    def written(self, product_id: str) -> list[Echo]:
        rows = self._table.query("PartitionKey eq @pk", {"pk": _partition(product_id)})
        echoes = [Echo(product_id, e["RowKey"], read_json(e, "values", {}), read_str(e, "modified"),
                       read_datetime(e, "at")) for e in rows]
        return sorted(echoes, key=lambda e: e.at or utc_now())


def _partition(product_id: str) -> str:
    return "product:" + key_for(product_id, "product_id")


def _normal(modified: Optional[str]) -> Optional[str]:
    """Plytix writes `2024-05-02T17:03:06.596000+00:00`; compare as the instant, whatever the spelling."""
    if not modified:
        return None
    try:
        return datetime.fromisoformat(modified.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return modified
