"""The event side of one pass (jobs 2, 3): changes in, event findings out, snapshots moved after commit.

A pass (shared/scan.py) hands each page of products to `compare` (one snapshot read per product, batched by
partition) and each product's changes to `evaluate`. Order of writes, so that a crash replays without
duplicates:
1. products whose changes produced no finding: their snapshot is written in bulk as the pass goes;
2. the reconciler creates/updates/closes the tasks (links committed) and `finish` writes the review holds;
3. only then `finish` writes the snapshots of those products, and only of those whose work is done
   (a deferred, waiting or failed action leaves the snapshot as it was: the next pass replays the event).
A dry run writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from shared.change_feed import STATUS_FIELD, ChangeFeed, ChangeKind, EchoSource, ProductChanges, Watch
from shared.group_plans import resolve_group_plans
from shared.observability import get_logger
from shared.planner import PlannerClient
from shared.plytix import PlytixClient
from shared.reconcile.plan import Action, Kind
from shared.rules import EventRule, Finding, ProductView, Rule, is_event_rule
from shared.store import Cursor, Snapshot, TableStores
from shared.store.snapshots import value_hash
from shared.writeback.echo import EchoLog

log = get_logger(__name__)

# Products compared with their snapshots at once: with 256 snapshot partitions, 500 products touch about
# 220 of them, so a batch costs about 0.45 read requests per product (100 would cost 0.8).
COMPARE_BATCH = 500
# Quiet snapshots (changes that produced no finding) are written once this many wait: fewer, fuller batches.
QUIET_FLUSH = 2000


def rule_cursor(rule_id: str) -> str:
    """The cursor recording a rule's first real pass (and when: `created` events count after it)."""
    return f"rule-seen-{rule_id}"


class EventPass:
    """Per pass: the change feed for the enabled event rules, and the snapshots waiting for commit."""

    def __init__(self, stores: TableStores, rules: list[EventRule], environment: str, now: datetime,
                 dry_run: bool) -> None:
        self.stores = stores
        self.rules = rules
        self.environment = environment
        self.dry_run = dry_run
        self.feed = ChangeFeed(stores.snapshots, _union(rule.watch() for rule in rules), now,
                               echoes=writeback_echoes(EchoLog(stores.table("echoes"))))
        self.enabled_at = {rule.id: _since(stores.cursors.get(rule_cursor(rule.id))) for rule in rules}
        self._quiet: list[Snapshot] = []
        self._waiting: dict[str, Snapshot] = {}  # product id -> snapshot to write once its work is done
        self._holds: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, int] = defaultdict(int)

    @classmethod
    def for_rules(cls, stores: TableStores, rules: Iterable[Rule], environment: str, now: datetime,
                  dry_run: bool) -> Optional["EventPass"]:
        events = [rule for rule in rules if is_event_rule(rule)]
        return cls(stores, events, environment, now, dry_run) if events else None  # type: ignore[arg-type]  # is_event_rule checked each

    def compare(self, products: Sequence[Mapping[str, Any]]) -> dict[str, ProductChanges]:
        changes = self.feed.compare(products)
        self.stats["products"] += len(changes)
        self.stats["changes"] += sum(len(c.changes) for c in changes.values())
        self.stats["echoes"] += sum(c.echoes for c in changes.values())
        return changes

    def findings(self, view: ProductView, changes: Optional[ProductChanges]) -> list[Finding]:
        """Findings of every event rule for this product's changes (no side effect: see `register`)."""
        if changes is None:
            return []
        return [finding for rule in self.rules
                for finding in rule.evaluate_changes(view, changes.changes, self.environment,
                                                     self.enabled_at.get(rule.id))]

    def may_select(self, changes: Optional[ProductChanges]) -> bool:
        """Could an event rule's selection of this product matter? Not without changes, and not for a first
        sighting while no rule has had its first pass (that pass only records the baseline): so the
        baseline pass fetches no product details for the event rules."""
        if changes is None or not changes.changes:
            return False
        return (any(c.kind is not ChangeKind.created for c in changes.changes)
                or any(at is not None for at in self.enabled_at.values()))

    def register(self, product_id: str, changes: Optional[ProductChanges], found: list[Finding]) -> None:
        """The product's snapshot waits for its findings' tasks, or (no finding) is written with the quiet."""
        if changes is None:
            return
        if found:
            self._waiting[product_id] = changes.snapshot
            for finding in found:
                if finding.event.get("hold"):
                    self._holds[product_id] = dict(finding.event["hold"])
        elif changes.dirty:
            self._quiet.append(changes.snapshot)
            if len(self._quiet) >= QUIET_FLUSH:
                self.flush_quiet()

    def flush_quiet(self) -> None:
        if self._quiet and not self.dry_run:
            self.stores.snapshots.put_many(self._quiet)
        self._quiet = []

    def resolve_plans(self, findings: dict[str, list[Finding]], planner: PlannerClient,
                      errors: list[str]) -> None:
        """Give findings that go into a launch-wave plan that plan's id (shared/group_plans.py); an event
        whose plan cannot be made now replays next pass (its snapshot is not moved)."""
        self.stats["wave_plans"] += resolve_group_plans(
            findings, planner, self.stores, dry_run=self.dry_run, errors=errors,
            unresolved=lambda finding: self._waiting.pop(finding.subject, None))

    def finish(self, report_planned: list[Action], retry: set[str], plytix: PlytixClient,
               now: Callable[[], datetime], errors: list[str]) -> None:
        """After execution: review holds, then the snapshots of products whose work is done."""
        self.flush_quiet()
        if self.dry_run:
            return
        approved = {a.product_id for a in report_planned if a.kind is Kind.close and a.desired is not None
                    and a.desired.data.get("hold")}
        for product_id, hold in self._holds.items():
            if product_id in retry:
                continue
            value = hold["approved"] if product_id in approved else hold["pending"]
            if hold.get("current") == value:
                continue
            try:
                # Echo first: the feed must recognise this write as ours (DESIGN.md, loop prevention).
                self.stores.snapshots.record_echo(product_id, {hold["attribute"]: value}, now())
                plytix.patch_product(product_id, {"attributes": {hold["attribute"]: value}})
                self.stats["holds"] += 1
            except Exception as exc:  # noqa: BLE001 - one product's hold must not stop the others
                errors.append(f"review hold on {product_id!r}: {exc.__class__.__name__}: {exc}")
                retry.add(product_id)
        done = [snapshot for product_id, snapshot in self._waiting.items() if product_id not in retry]
        if done:
            # The echo may have been recorded since the snapshot was read: keep it (put_many re-reads on
            # a conflict, which the hold's own echo above causes for exactly these products).
            self.stores.snapshots.put_many(done)
        self.stats["committed"] += len(done)


def writeback_echoes(log: EchoLog) -> EchoSource:
    """Job 4's echo log as the change feed reads it: per field, the hash of each value a write-back wrote
    and when (one query, only for a product with a changed watched field)."""
    def echoes(product_id: str) -> dict[str, list[tuple[str, datetime]]]:
        found: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        for echo in log.written(product_id):
            if echo.at is None:
                continue
            for label, value in (echo.values.get("attributes") or {}).items():
                found[label].append((value_hash(value), echo.at))
            if echo.values.get("status"):
                found[STATUS_FIELD].append((value_hash(echo.values["status"]), echo.at))
        return found

    return echoes


def _union(watches: Iterable[Watch]) -> Watch:
    attributes: set[str] = set()
    status = False
    for watch in watches:
        attributes |= watch.attributes
        status = status or watch.status
    return Watch(frozenset(attributes), status)


def _since(cursor: Optional[Cursor]) -> Optional[datetime]:
    value = (cursor.value if cursor else {}).get("since")
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
