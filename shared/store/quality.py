"""The whole-catalog view the `data_quality` rule (job 6) needs, kept in Table Storage, never in memory.

Why stored: a duplicate is a relation between two products that may be read on different pages, in
different passes, on different instances (a product created today duplicating one from last year, seen by
an incremental pass that reads only the new one). A dict of the whole catalog would grow with it and die
with the invocation; these partitions grow in storage and are read a partition at a time.

Rows (PartitionKey / RowKey, every outside value escaped):
- `<rule>.p.<shard>` / product id: what the index last recorded for the product (its duplicate keys, its
  exceptions, family and categories for its variants); 256 shards by product-id hash spread the load
  (about 2,000 entities/s per partition, API_FACTS.md).
- `<rule>.d.<kind>.<key hash>` / product id: one partition per normalised key; two rows make a duplicate.
- `<rule>.g` / `<kind>.<key hash>`: the duplicate groups (keys with two or more products), with their
  members, so a pass lists the groups without touching the single keys.
- `<rule>.x.<check>` / product id: products failing one per-product check (GTIN check digit, a mandatory
  field, taxonomy).
A product's rows change only when its keys or exceptions change: an unchanged catalog costs one read per
product per pass and no write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Optional

from shared.store.entity import build_entity, read_json, read_str
from shared.store.keys import escape_key, key_for, unescape_key
from shared.store.table import StoreTable

# Members kept on a group row: enough to list a group on its task (Planner descriptions are for people).
MAX_STORED_MEMBERS = 100


def key_hash(normalised: str) -> str:
    """A fixed-length key for a normalised value (values can exceed what a key may hold)."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Member:
    """A product as a group or exception lists it."""

    product_id: str
    sku: str
    label: str
    detail: str = ""  # what is wrong, or the value as the product holds it


@dataclass(frozen=True)
class IndexedProduct:
    """What the index holds about a product; `keys` maps kind -> (key hash, normalised value, value as the
    product holds it)."""

    product_id: str
    sku: str
    label: str
    keys: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    exceptions: Mapping[str, str] = field(default_factory=dict)  # check -> what is wrong
    family_id: str = ""
    categories: tuple[str, ...] = ()  # "A/B" paths, sorted

    def member(self, detail: str = "") -> Member:
        return Member(self.product_id, self.sku, self.label, detail)


@dataclass(frozen=True)
class DuplicateGroup:
    kind: str
    key: str  # the key hash
    value: str  # the normalised value the members share
    count: int
    members: tuple[Member, ...]


class QualityIndex:
    """Products' duplicate keys and exceptions per `data_quality` rule."""

    def __init__(self, table: StoreTable):
        self._table = table

    # ---- partitions -------------------------------------------------------------------------------

    @staticmethod
    def _product_partition(rule_id: str, product_id: str) -> str:
        shard = hashlib.sha256(product_id.encode("utf-8")).hexdigest()[:2]
        return key_for(f"{rule_id}.p.{shard}", "rule id")

    @staticmethod
    def _key_partition(rule_id: str, kind: str, key: str) -> str:
        return key_for(f"{rule_id}.d.{kind}.{key}", "duplicate key")

    @staticmethod
    def _group_partition(rule_id: str) -> str:
        return key_for(f"{rule_id}.g", "rule id")

    @staticmethod
    def _check_partition(rule_id: str, check: str) -> str:
        return key_for(f"{rule_id}.x.{check}", "check")

    # ---- one product ------------------------------------------------------------------------------

    def get(self, rule_id: str, product_id: str) -> Optional[IndexedProduct]:
        entity = self._table.get(self._product_partition(rule_id, product_id), escape_key(product_id))
        if entity is None:
            return None
        return IndexedProduct(product_id=product_id, sku=read_str(entity, "sku") or "",
                              label=read_str(entity, "label") or "",
                              keys={k: (v[0], v[1], v[2]) for k, v in read_json(entity, "keys", {}).items()},
                              exceptions=read_json(entity, "exceptions", {}),
                              family_id=read_str(entity, "family_id") or "",
                              categories=tuple(read_json(entity, "categories", [])))

    def record(self, rule_id: str, now: IndexedProduct, before: Optional[IndexedProduct]) -> None:
        """Move the product's rows from what `before` recorded to `now`: leave the keys and checks it no
        longer has, join the new ones, and refresh the groups it left or joined. Order matters for a
        crash: the product row is written last, so a pass that dies half-way leaves `before` in place and
        the next pass redoes the move (every step is idempotent)."""
        old_keys = dict(before.keys) if before else {}
        for kind, (key, _normal, _raw) in old_keys.items():
            if now.keys.get(kind, ("",))[0] != key:
                self._table.delete(self._key_partition(rule_id, kind, key), escape_key(now.product_id))
                self._refresh_group(rule_id, kind, key, left=True)
        for kind, (key, normal, raw) in now.keys.items():
            if old_keys.get(kind, ("",))[0] != key or (before and (before.sku, before.label) != (now.sku, now.label)):
                self._table.upsert(build_entity(self._table.name, self._key_partition(rule_id, kind, key),
                                                escape_key(now.product_id),
                                                {"sku": now.sku, "label": now.label, "normal": normal,
                                                 "value": raw}))
                self._refresh_group(rule_id, kind, key)
        old_checks = dict(before.exceptions) if before else {}
        for check in old_checks.keys() - now.exceptions.keys():
            self._table.delete(self._check_partition(rule_id, check), escape_key(now.product_id))
        for check, detail in now.exceptions.items():
            if old_checks.get(check) != detail or (before and (before.sku, before.label) != (now.sku, now.label)):
                self._table.upsert(build_entity(self._table.name, self._check_partition(rule_id, check),
                                                escape_key(now.product_id),
                                                {"sku": now.sku, "label": now.label, "detail": detail}))
        self._table.upsert(build_entity(
            self._table.name, self._product_partition(rule_id, now.product_id), escape_key(now.product_id),
            {"sku": now.sku, "label": now.label, "keys": {k: list(v) for k, v in now.keys.items()},
             "exceptions": dict(now.exceptions), "family_id": now.family_id, "categories": list(now.categories)}))

    def _refresh_group(self, rule_id: str, kind: str, key: str, left: bool = False) -> None:
        """Re-derive one key's group row from its partition: a group while two or more products hold
        the key, no row otherwise. Reading the partition (not counting joins and leaves) makes the row
        right whatever order concurrent passes wrote in, once the last of them has refreshed it. `left`:
        a product has just left the key, so a group of two may have become one product (its row goes)."""
        members: list[Member] = []
        count = 0
        value = ""
        for entity in self._table.query("PartitionKey eq @pk", {"pk": self._key_partition(rule_id, kind, key)}):
            count += 1
            value = value or (read_str(entity, "normal") or "")
            if len(members) < MAX_STORED_MEMBERS:
                members.append(Member(unescape_key(entity["RowKey"]), read_str(entity, "sku") or "",
                                      read_str(entity, "label") or "", read_str(entity, "value") or ""))
        row = escape_key(f"{kind}.{key}")
        if count < 2:
            if count == 1 and left:  # a group of two a moment ago (delete is idempotent)
                self._table.delete(self._group_partition(rule_id), row)
            return
        self._table.upsert(build_entity(self._table.name, self._group_partition(rule_id), row,
                                        {"kind": kind, "key": key, "value": value, "count": str(count),
                                         "members": [[m.product_id, m.sku, m.label, m.detail] for m in members]}))

    # ---- whole-catalog views (streamed) -----------------------------------------------------------

    def groups(self, rule_id: str) -> Iterator[DuplicateGroup]:
        """Every duplicate group of the rule, in key order."""
        for entity in self._table.query("PartitionKey eq @pk", {"pk": self._group_partition(rule_id)}):
            yield DuplicateGroup(kind=read_str(entity, "kind") or "", key=read_str(entity, "key") or "",
                                 value=read_str(entity, "value") or "", count=int(entity.get("count") or 0),
                                 members=tuple(Member(*m) for m in read_json(entity, "members", [])))

    def failing(self, rule_id: str, check: str, limit: int = MAX_STORED_MEMBERS) -> tuple[int, list[Member]]:
        """How many products fail `check`, and the first `limit` of them (streamed: memory is `limit`)."""
        count, members = 0, list[Member]()
        for entity in self._table.query("PartitionKey eq @pk", {"pk": self._check_partition(rule_id, check)},
                                        select=["RowKey", "sku", "label", "detail"]):
            count += 1
            if len(members) < limit:
                members.append(Member(unescape_key(entity["RowKey"]), read_str(entity, "sku") or "",
                                      read_str(entity, "label") or "", read_str(entity, "detail") or ""))
        return count, members
