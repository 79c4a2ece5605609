"""The family cache: each product's family and level as `GET /api/v1/products/{id}` last gave them.

Why a cache: product search does not give the family (it is not in the account's filter listing, and a
client run against the live API saw `product_family_id` come back empty even when requested; API_FACTS.md,
"What search really returns"), while rules select, route and group by family. Only a per-product GET
gives it. The entry remembers the product's `modified` at that read, so a product is read again only when
it has changed since; a pass over an unchanged catalog then costs no extra Plytix call.

PartitionKey = the product's snapshot bucket (two hex digits of sha256 of its id, see snapshots.py: 256
partitions, no hot spot), RowKey = escaped product id. Last writer wins: every writer writes what Plytix
said at a later or equal `modified`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from shared.store.entity import build_entity, read_str
from shared.store.keys import key_for, unescape_key
from shared.store.snapshots import snapshot_partition
from shared.store.table import StoreTable


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
    """Point reads and upserts of family entries."""

    def __init__(self, table: StoreTable):
        self._table = table

    def get(self, product_id: str) -> Optional[FamilyEntry]:
        entity = self._table.get(snapshot_partition(product_id), key_for(product_id, "product_id"))
        if entity is None:
            return None
        level = read_str(entity, "level")
        return FamilyEntry(product_id=unescape_key(entity["RowKey"]), modified=read_str(entity, "modified") or "",
                           family_id=read_str(entity, "family_id"),
                           level=int(level) if level is not None and level.isdigit() else None,
                           product_type=read_str(entity, "product_type"))

    def put(self, entry: FamilyEntry) -> None:
        self._table.upsert(build_entity(self._table.name, snapshot_partition(entry.product_id),
                                        key_for(entry.product_id, "product_id"),
                                        {"modified": entry.modified, "family_id": entry.family_id,
                                         # stored as text: the entity layer keeps to str, bool and dates
                                         "level": None if entry.level is None else str(entry.level),
                                         "product_type": entry.product_type}))
