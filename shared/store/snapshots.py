"""Snapshots: the watched values of each product as last seen, so the feed can emit change events.

PartitionKey = the first two hex digits of sha256(product id): 256 partitions whatever the catalog size.
Why: one partition per product would make every bulk write a single-entity request; one partition for
all would cap throughput at one partition's ~2,000 entities/s. With 256 buckets a 100k catalog has ~400
rows per partition, and a page of products spreads evenly (hash), so writes batch per partition and the
partitions are written in parallel. RowKey = escaped product id.

`echo` holds, per attribute, the hash of a value WE wrote to Plytix (job 4's write-backs, the review
hold) and when: the change feed compares it with what it reads back and drops the echo of our own PATCH
(loop prevention, DESIGN.md). Writers of Plytix call `record_echo` BEFORE their PATCH. The feed writes
snapshots conditionally on the ETag it read and, when a writer recorded an echo in between, re-reads and
keeps that echo: an echo is never lost to a concurrent snapshot write. Whole entities are REPLACEd, as
everywhere in the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Optional

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.store.batching import DEFAULT_WORKERS, Entity, fan_out, transactions_by_partition
from shared.store.entity import build_entity, read_etag, read_json, read_str
from shared.store.errors import ConcurrentUpdate
from shared.store.keys import key_for, unescape_key
from shared.store.table import StoreTable

# A $filter may hold at most 15 discrete comparisons ("Querying tables and entities",
# https://learn.microsoft.com/rest/api/storageservices/querying-tables-and-entities): PartitionKey eq plus
# up to 14 RowKey eq. Larger groups read the partition's RowKey range and filter here.
_MAX_ROWKEY_COMPARISONS = 14
# An echo older than this is forgotten: the feed has long seen (or missed) the write it stands for.
ECHO_MAX_AGE = timedelta(days=2)
_WRITE_ATTEMPTS = 3


def value_hash(value: Any) -> str:
    """Hash of one attribute value as JSON (sorted keys), so the feed and a writer of Plytix agree on it."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass
class Snapshot:
    product_id: str
    values: dict[str, Any]
    modified: Optional[str] = None  # the product's Plytix `modified` when these values were read
    # attribute label -> {"h": value_hash of what WE wrote, "at": ISO time of the write}: loop prevention
    echo: dict[str, dict[str, str]] = field(default_factory=dict)
    read_at: Optional[str] = None  # ISO time of the pass that read these values (echo applies after it)
    etag: Optional[str] = None

    @property
    def has_baseline(self) -> bool:
        """False for a row holding only an echo (written before the feed ever saw the product)."""
        return self.modified is not None or bool(self.values)


def snapshot_partition(product_id: str) -> str:
    """The partition of a product: stable across processes (unlike hash()), two hex digits."""
    return hashlib.sha256(product_id.encode("utf-8")).hexdigest()[:2]


class SnapshotStore:
    """Point and bulk reads and writes of product snapshots (last writer wins: the feed is the only writer)."""

    def __init__(self, table: StoreTable, max_workers: int = DEFAULT_WORKERS):
        self._table = table
        self._max_workers = max_workers

    def get(self, product_id: str) -> Optional[Snapshot]:
        entity = self._table.get(snapshot_partition(product_id), key_for(product_id, "product_id"))
        return None if entity is None else _snapshot_from(entity)

    def get_many(self, product_ids: Iterable[str]) -> dict[str, Snapshot]:
        """Snapshots of the given products that exist, keyed by product id; one request per partition
        touched (a point read, an OR of row keys, or a row-key range), partitions read in parallel."""
        by_partition: dict[str, set[str]] = {}
        for product_id in product_ids:
            by_partition.setdefault(snapshot_partition(product_id), set()).add(key_for(product_id, "product_id"))
        found: dict[str, Snapshot] = {}
        for part in fan_out(self._read_partition, by_partition, self._max_workers):
            found.update(part)
        return found

    def put(self, snapshot: Snapshot) -> Snapshot:
        """Insert or replace; returns the snapshot with its new ETag."""
        return dataclasses.replace(snapshot, etag=self._table.upsert(self._entity(snapshot)))

    def put_many(self, snapshots: Iterable[Snapshot]) -> dict[str, Snapshot]:
        """Insert or replace many in entity group transactions, grouped by partition and sized by
        batching.transactions_by_partition; partitions are written in parallel.

        A snapshot carrying an ETag replaces only that version. When a transaction fails because a row
        changed (an echo was recorded meanwhile), its rows are re-read, their echo kept, and it is tried
        again. Every entity is built (and checked against the limits) before anything is written, so a bad
        snapshot fails the call without a partial write of the others. Per product the last one wins.
        Returns the stored snapshots, with ETags, keyed by product id.
        """
        entities = [{**self._entity(s), "__etag": s.etag} for s in snapshots]
        groups = transactions_by_partition(self._table.name, entities)
        stored: dict[str, Snapshot] = {}
        for part in fan_out(self._write_partition, groups, self._max_workers):
            stored.update(part)
        return stored

    def record_echo(self, product_id: str, values: Mapping[str, Any], at: datetime) -> Snapshot:
        """Remember that WE are about to write `values` (attribute label -> value) to this product, so the
        change feed does not report them as a change. Call it before the PATCH: an echo recorded for a
        write that then fails only suppresses that exact value once. Conditional read-modify-write."""
        for _ in range(_WRITE_ATTEMPTS):
            current = self.get(product_id) or Snapshot(product_id, {})
            echo = {label: entry for label, entry in current.echo.items()
                    if entry.get("at", "") >= (at - ECHO_MAX_AGE).isoformat()}
            echo.update({label: {"h": value_hash(value), "at": at.isoformat()} for label, value in values.items()})
            entity = self._entity(dataclasses.replace(current, echo=echo))
            try:
                etag = (self._table.replace(entity, current.etag) if current.etag
                        else self._table.create(entity))
            except (ConcurrentUpdate, ResourceExistsError):
                continue  # the feed (or another writer) wrote the row meanwhile: read it again
            return dataclasses.replace(current, echo=echo, etag=etag)
        raise ConcurrentUpdate(f"snapshot of {product_id!r} kept changing while recording an echo")

    def delete(self, product_id: str) -> None:
        self._table.delete(snapshot_partition(product_id), key_for(product_id, "product_id"))

    def _entity(self, snapshot: Snapshot) -> dict[str, Any]:
        return build_entity(self._table.name, snapshot_partition(snapshot.product_id),
                            key_for(snapshot.product_id, "product_id"),
                            {"values": snapshot.values, "modified": snapshot.modified,
                             "echo": snapshot.echo or None, "read_at": snapshot.read_at})

    def _read_partition(self, partition: str, row_keys: set[str]) -> dict[str, Snapshot]:
        if len(row_keys) == 1:
            entity = self._table.get(partition, next(iter(row_keys)))
            entities: Iterable[Any] = [] if entity is None else [entity]
        else:
            entities = self._table.query(*partition_query(partition, row_keys))
        snapshots = (_snapshot_from(e) for e in entities if e["RowKey"] in row_keys)
        return {s.product_id: s for s in snapshots}

    def _write_partition(self, partition: str, transactions: list[list[Entity]]) -> dict[str, Snapshot]:
        stored: dict[str, Snapshot] = {}
        for transaction in transactions:  # in order: a later write of the same product must land last
            for _ in range(_WRITE_ATTEMPTS):
                try:
                    results = self._table.submit([_write_operation(e) for e in transaction])
                    break
                except TableTransactionError:
                    transaction = self._refreshed(partition, transaction)
            else:
                raise ConcurrentUpdate(f"snapshots in partition {partition!r} kept changing while being written")
            for entity, result in zip(transaction, results, strict=True):
                snapshot = _snapshot_from(entity)
                stored[snapshot.product_id] = dataclasses.replace(snapshot, etag=result.get("etag"))
        return stored

    def _refreshed(self, partition: str, transaction: list[Entity]) -> list[Entity]:
        """The transaction's entities with the echo and ETag the rows have now (our values win)."""
        current = self._read_partition(partition, {e["RowKey"] for e in transaction})
        refreshed: list[Entity] = []
        for entity in transaction:
            ours = _snapshot_from(entity)
            theirs = current.get(ours.product_id)
            refreshed.append({**self._entity(dataclasses.replace(
                ours, echo=theirs.echo if theirs else ours.echo)), "__etag": theirs.etag if theirs else None})
        return refreshed


def partition_query(partition: str, row_keys: set[str]) -> tuple[str, dict[str, str]]:
    """Filter and parameters reading `row_keys` of one partition in one request: an OR of row keys while
    the filter stays within 15 comparisons, else the row-key range (the caller drops rows not asked for)."""
    if len(row_keys) <= _MAX_ROWKEY_COMPARISONS:
        params = {f"r{i}": rk for i, rk in enumerate(sorted(row_keys))}
        query = "PartitionKey eq @pk and ( " + " or ".join(f"RowKey eq @{name}" for name in params) + " )"
        return query, {"pk": partition, **params}
    return ("PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi",
            {"pk": partition, "lo": min(row_keys), "hi": max(row_keys)})


def _write_operation(entity: Entity) -> tuple[Any, ...]:
    """Replace the version read (`__etag`, set when the snapshot came with one), else insert-or-replace."""
    etag = entity.get("__etag")
    body = {k: v for k, v in entity.items() if k != "__etag"}
    if etag:
        return ("update", body, {"mode": UpdateMode.REPLACE, "etag": etag,
                                 "match_condition": MatchConditions.IfNotModified})
    return ("upsert", body, {"mode": UpdateMode.REPLACE})


def _snapshot_from(entity: Any) -> Snapshot:
    """From a stored entity or one we just built (then the ETag comes from the write's answer)."""
    return Snapshot(product_id=unescape_key(entity["RowKey"]), values=read_json(entity, "values", {}),
                    modified=read_str(entity, "modified"), echo=read_json(entity, "echo", {}),
                    read_at=read_str(entity, "read_at"), etag=read_etag(entity) or entity.get("__etag"))
