"""The change feed: product events from the one product feed, compared with stored snapshots.

Plytix sends no product webhooks (API_FACTS.md), so events are derived: each pass reads products through
shared/feed.py (the incremental pass: those with `modified` after the watermark) and compares the values
the enabled event rules watch with the product's snapshot (shared/store/snapshots.py). That yields:
- `created`: no snapshot yet (the rule decides whether `created` is after it was enabled: no flood);
- `status`: the system status moved (Archived included);
- `attribute`: a watched attribute changed, the workflow-stage attribute included (old -> new).
A product changed twice between passes yields one event per field, with the latest value.

Why the snapshot moves only after the events are committed: the caller (shared/events_pass.py) writes
the new snapshot of a product once the tasks or links its events produced are stored. A crash in between
replays the same events (same old value, same version), and the links make the replay a no-op.

Echo (loop prevention, DESIGN.md): a change to exactly a value WE wrote after the snapshot was read is our
own write, absorbed without an event. Two records of our writes are consulted: the snapshot's own echo
(`SnapshotStore.record_echo`, written before the PATCH: the review hold) and job 4's echo log
(shared/writeback/echo.py, also written before its PATCH), read only for a product with a changed field.

Each snapshot keeps a watched value whole up to VALUE_LIMIT characters; beyond that its hash and an
excerpt (the review task then says the old value was cut).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Callable, Iterable, Mapping, Optional

from shared.store.snapshots import Snapshot, SnapshotStore, value_hash

VALUE_LIMIT = 8000  # characters of a value kept whole in a snapshot (entity <= 1 MiB with 20 such values)
STATUS_FIELD = "status"  # the system field; attributes are keyed by their label


class ChangeKind(str, Enum):
    created = "created"
    status = "status"
    attribute = "attribute"


@dataclass(frozen=True)
class Change:
    """One event about one product. `old`/`new` are the values for display (`old` may be an excerpt,
    then `old_cut` is True); `version` identifies the change: the same old state always gives the same
    version, so a replay after a crash (or a further change before the snapshot moved) maps onto the
    same task."""

    kind: ChangeKind
    field: str  # "status", an attribute label, or "" for created
    old: Any
    new: Any
    old_hash: Optional[str]
    new_hash: str
    version: str
    old_cut: bool = False


@dataclass(frozen=True)
class Watch:
    """What the enabled event rules watch: attribute labels, and whether the system status counts."""

    attributes: frozenset[str]
    status: bool = True

    def fields(self) -> list[str]:
        return ([STATUS_FIELD] if self.status else []) + sorted(self.attributes)


# Other records of our own writes: product id -> {field: [(value_hash, when written)]}.
EchoSource = Callable[[str], Mapping[str, list[tuple[str, datetime]]]]


@dataclass
class ProductChanges:
    """The events of one product and the snapshot to store once they are acted on."""

    product_id: str
    changes: tuple[Change, ...]
    snapshot: Snapshot
    dirty: bool  # the snapshot differs from the stored one
    echoes: int = 0  # changes recognised as our own writes


def stored_value(value: Any) -> dict[str, Any]:
    """A value as a snapshot keeps it: whole when short, else its hash and an excerpt."""
    digest = value_hash(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= VALUE_LIMIT:
        return {"h": digest, "v": value}
    return {"h": digest, "x": text[:VALUE_LIMIT], "len": len(text)}


def field_value(product: Mapping[str, Any], name: str) -> Any:
    if name == STATUS_FIELD:
        return product.get("status")
    return (product.get("attributes") or {}).get(name)


def change_version(product_id: str, name: str, old_hash: Optional[str], since: Optional[str]) -> str:
    """Stable for a given old state: product, field, the old value's hash and when the snapshot was read."""
    payload = json.dumps([product_id, name, old_hash, since])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


class ChangeFeed:
    """Compares pages of products with their snapshots: one snapshot read per product, batched by
    partition (SnapshotStore.get_many), no Plytix call of its own."""

    def __init__(self, snapshots: SnapshotStore, watch: Watch, read_at: datetime,
                 echoes: Optional[EchoSource] = None) -> None:
        self.snapshots = snapshots
        self.watch = watch
        self.read_at = read_at.isoformat()
        self.echoes = echoes

    def compare(self, products: Iterable[Mapping[str, Any]]) -> dict[str, ProductChanges]:
        page = {str(p["id"]): p for p in products if p.get("id")}
        stored = self.snapshots.get_many(page)
        return {pid: self._diff(pid, product, stored.get(pid)) for pid, product in page.items()}

    def _diff(self, product_id: str, product: Mapping[str, Any], old: Optional[Snapshot]) -> ProductChanges:
        values = {name: stored_value(field_value(product, name)) for name in self.watch.fields()}
        snapshot = Snapshot(product_id, values, modified=str(product.get("modified") or "") or None,
                            echo=old.echo if old else {}, read_at=self.read_at, etag=old.etag if old else None)
        if old is None or not old.has_baseline:
            created = str(product.get("created") or "")
            event = Change(ChangeKind.created, "", None, created, None, value_hash(created), "created")
            return ProductChanges(product_id, (event,), snapshot, dirty=True)
        changes: list[Change] = []
        echoes = 0
        logged: Optional[Mapping[str, list[tuple[str, datetime]]]] = None
        for name, now in values.items():
            before = old.values.get(name)
            if before is None:
                continue  # a field a rule started watching since: this is its baseline, not a change
            if before.get("h") == now["h"]:
                continue
            if self._is_echo(old, name, now["h"]):
                echoes += 1
                continue
            if self.echoes is not None:
                logged = self.echoes(product_id) if logged is None else logged
                if any(digest == now["h"] and _after_read(at, old) for digest, at in logged.get(name, ())):
                    echoes += 1
                    continue
            kind = ChangeKind.status if name == STATUS_FIELD else ChangeKind.attribute
            changes.append(Change(kind, name, before.get("v", before.get("x")), field_value(product, name),
                                  before.get("h"), now["h"], change_version(product_id, name, before.get("h"),
                                                                            old.read_at or old.modified),
                                  old_cut="x" in before))
        dirty = values != old.values  # a change of unwatched attributes only costs no write
        return ProductChanges(product_id, tuple(changes), snapshot, dirty, echoes)

    @staticmethod
    def _is_echo(old: Snapshot, name: str, new_hash: str) -> bool:
        """Our own write: the value we recorded, written after the stored snapshot was read."""
        entry = old.echo.get(name)
        if not entry or entry.get("h") != new_hash:
            return False
        return _after_read(_time(entry.get("at")), old)


def _after_read(at: Optional[datetime], old: Snapshot) -> bool:
    """Was this write made after the stored snapshot was read (so the snapshot cannot contain it)?"""
    return old.read_at is None or (at is not None and at >= _time(old.read_at))


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
