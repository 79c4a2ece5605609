"""The family cache: each product's family and level as `GET /api/v1/products/{id}` last gave them.

Why a cache: product search does not give the family (it is not in the account's filter listing, and a
client run against the live API saw `product_family_id` come back empty even when requested; API_FACTS.md,
"What search really returns"), while rules select, route and group by family. Only a per-product GET
gives it. The entry remembers the product's `modified` at that read, so a product is read again only when
it has changed since; a pass over an unchanged catalog then costs no extra Plytix call.

PartitionKey = the product's snapshot bucket (two hex digits of sha256 of its id, see snapshots.py: 256
partitions, no hot spot), RowKey = escaped product id. Last writer wins: every writer writes what Plytix
said at a later or equal `modified`.

The store also keeps the entries it read or wrote in memory (at most MEMO_ENTRIES, least recently used
out first: about 5 MiB), so a warm instance pays no storage read per product with a finding on every pass
(measured by bench/scan_cost.py: 500 point reads for 10,000 products with 5% gaps). An entry only counts
for the `modified` it was read at, so another instance's newer entry is never shadowed by an old one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

from shared.store.entity import build_entity, read_str
from shared.store.keys import key_for, unescape_key
from shared.store.snapshots import snapshot_partition
from shared.store.table import StoreTable

MEMO_ENTRIES = 20_000


@dataclass(frozen=True)
class FamilyEntry:
    """What a GET said about one product's family and level, and at which `modified`."""

    product_id: str
    modified: str
    family_id: Optional[str] = None  # None: the product has no family
    level: Optional[int] = None  # product_level 0 single, 1 parent, 2 variant, 3 sub-variant
    product_type: Optional[str] = None  # SINGLE / PARENT / VARIANT

    def fields(self) -> dict[str, Any]:
        """The product fields this entry supplies, as a product dict carries them."""
        return {"product_family_id": self.family_id, "product_level": self.level, "product_type": self.product_type}


class FamilyCacheStore:
    """Reads and upserts of family entries, with a bounded in-memory copy of recent ones."""

    def __init__(self, table: StoreTable, memo_entries: int = MEMO_ENTRIES):
        self._table = table
        self._memo: OrderedDict[str, FamilyEntry] = OrderedDict()
        self._memo_entries = memo_entries
        self._lock = threading.Lock()

    def lookup(self, product_id: str, modified: str) -> Optional[FamilyEntry]:
        """The entry read at exactly this `modified`, from memory or the table; None when there is none."""
        with self._lock:
            entry = self._memo.get(product_id)
        if entry is None or entry.modified != modified:
            entry = self._read(product_id)
            if entry is not None:
                self._remember(entry)
        return entry if entry is not None and entry.modified == modified else None

    def put(self, entry: FamilyEntry) -> None:
        self._table.upsert(build_entity(self._table.name, snapshot_partition(entry.product_id),
                                        key_for(entry.product_id, "product_id"),
                                        {"modified": entry.modified, "family_id": entry.family_id,
                                         # stored as text: the entity layer keeps to str, bool and dates
                                         "level": None if entry.level is None else str(entry.level),
                                         "product_type": entry.product_type}))
        self._remember(entry)

    def _read(self, product_id: str) -> Optional[FamilyEntry]:
        entity = self._table.get(snapshot_partition(product_id), key_for(product_id, "product_id"))
        if entity is None:
            return None
        level = read_str(entity, "level")
        return FamilyEntry(product_id=unescape_key(entity["RowKey"]), modified=read_str(entity, "modified") or "",
                           family_id=read_str(entity, "family_id"),
                           level=int(level) if level is not None and level.isdigit() else None,
                           product_type=read_str(entity, "product_type"))

    def _remember(self, entry: FamilyEntry) -> None:
        with self._lock:
            self._memo[entry.product_id] = entry
            self._memo.move_to_end(entry.product_id)
            while len(self._memo) > self._memo_entries:
                self._memo.popitem(last=False)
