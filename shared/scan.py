"""One reconcile pass: feed -> findings -> desired tasks -> actions -> (unless dry run) execution.

Level-triggered (DESIGN.md): the pass looks at the whole desired state and the whole stored state, so
running it twice, late, or on two instances at once gives the same result; the claims in the link table
make concurrent passes safe, and a pass that dies half-way is finished by the next one.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Optional

from shared.events_pass import COMPARE_BATCH, EventPass, rule_cursor
from shared.feed import PAGE_SIZE, ProductFeed
from shared.group_plans import NEW_PLAN_PREFIX, resolve_group_plans
from shared.observability import get_logger, log_event
from shared.planner import PlannerClient, PlannerTask
from shared.plytix import PlytixClient
from shared.product_details import DetailResolver, lacks_details, selection_needs_details
from shared.reconcile.capacity import PLANNER_ACTIVE_TASK_LIMIT, Digest, PlanCapacity, fit_to_capacity
from shared.reconcile.desired import NO_GROUPING, build_desired, digest_desired, product_desired
from shared.reconcile.events import retarget
from shared.reconcile.execute import ExecutionContext, Executor, Outcome
from shared.reconcile.parallel import run_actions
from shared.reconcile.plan import WRITING_KINDS, Action, Kind, Policy, apply_creation_cap, plan_rule
from shared.rules import Finding, ProductView, Rule, RulesFile, is_event_rule
from shared.settings import Settings
from shared.store import AuditEntry, ConcurrentUpdate, Cursor, Link, LinkState, TableStores
from shared.telemetry import span
from shared.writeback import on_complete_of, queue_write_back, writeback_context

log = get_logger(__name__)


@dataclass
class ScanReport:
    """What a pass found and did; the HTTP API, the CLI and the demo print it."""

    run_id: str
    dry_run: bool
    started: datetime
    mode: str = "full"  # or "incremental"
    finished: Optional[datetime] = None
    products_seen: int = 0
    findings: int = 0
    planned: list[Action] = field(default_factory=list)
    done: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    retry_products: set[str] = field(default_factory=set)  # work left for the next pass
    plan_capacity: dict[str, dict[str, int]] = field(default_factory=dict)  # per plan: active, overflow...
    events: dict[str, int] = field(default_factory=dict)  # change feed: products compared, changes, echoes...
    linked_read: set[str] = field(default_factory=set)  # linked (or now linkable) products this pass read

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "mode": self.mode, "dry_run": self.dry_run, "started": self.started.isoformat(),
                "finished": self.finished.isoformat() if self.finished else None,
                "products_seen": self.products_seen, "findings": self.findings,
                "actions": [a.to_json() for a in self.planned if a.kind is not Kind.wait],
                "planned": dict(Counter(a.kind.value for a in self.planned)),
                "done": dict(self.done), "skipped": dict(self.skipped), "errors": self.errors,
                "api_calls": self.api_calls, "plan_capacity": self.plan_capacity,
                **({"events": self.events} if self.events else {})}


@dataclass
class ScanDeps:
    """Everything a pass talks to (built from settings by shared.runtime, or by tests)."""

    settings: Settings
    rules_file: RulesFile
    rules: list[Rule]
    plytix: PlytixClient
    planner: PlannerClient
    stores: TableStores
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    claim_timeout: Optional[timedelta] = None  # None: the app setting CLAIM_TIMEOUT_SECONDS

    @property
    def stale_claim_after(self) -> timedelta:
        """How old a `pending` claim must be before another pass takes it over."""
        if self.claim_timeout is not None:
            return self.claim_timeout
        return timedelta(seconds=self.settings.CLAIM_TIMEOUT_SECONDS)


WATERMARK_CURSOR = "feed-watermark"
SWEEP_WINDOW_MODE = "sweep-segment"  # ScanReport.mode of one window of a segmented sweep
RECENT_PASSES = 10  # passes the watermark remembers for the operations page
# Products whose work a pass could not finish are re-read by the next incremental pass; beyond this many
# the rest wait for the next full sweep (the cursor row must stay small).
MAX_RETRY_PRODUCTS = 2000


Progress = Callable[["ScanReport"], None]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def select_rules(rules: list[Rule], rule_ids: Optional[Iterable[str]]) -> list[Rule]:
    """The enabled rules named (all when None); ValueError naming the unknown or disabled ones."""
    if rule_ids is None:
        return list(rules)
    wanted = set(rule_ids)
    unknown = wanted - {r.id for r in rules}
    if unknown:
        raise ValueError(f"unknown or disabled rule id(s): {', '.join(sorted(unknown))}")
    return [r for r in rules if r.id in wanted]


def run_full_scan(deps: ScanDeps, *, dry_run: bool = False, rule_ids: Optional[Iterable[str]] = None,
                  checkpoint: Optional[Callable[[str], None]] = None, run_id: Optional[str] = None,
                  progress: Optional[Progress] = None) -> ScanReport:
    """A full sweep: every product, every enabled rule (or the given ones).

    A real sweep of all rules also moves the incremental pass's watermark to its own start: whatever
    changes from then on is the incremental pass's job. `progress(report)` is called after each product
    read and each action done (on-demand scans store it; the callback decides how often)."""
    rules = select_rules(deps.rules, rule_ids)
    report = ScanReport(run_id=run_id or new_run_id(), dry_run=dry_run, started=deps.clock(), mode="full")
    watermark = read_watermark(deps) if not dry_run and rule_ids is None else None
    feed = pass_feed(deps, rules)
    run_pass(deps, rules, report, feed, feed.full_sweep, full=True, checkpoint=checkpoint,
             progress=progress or no_progress)
    if not dry_run and rule_ids is None:
        save_watermark(deps, watermark, report)
    return report


def run_incremental_scan(deps: ScanDeps, *, checkpoint: Optional[Callable[[str], None]] = None) -> ScanReport:
    """The short-timer pass: products whose `modified` is after the watermark (minus an overlap, for
    clock skew and writes racing the previous pass), plus the products whose work the last pass could not
    finish (deferred by the cap, failed, claimed by a crashed worker). Falls back to a full sweep when
    there is no watermark yet or the rules changed since (level-triggered rules must see everything).

    An absent finding counts as "fixed" only for products this pass read; links of other products are
    left alone. With nothing to read there is nothing to reconcile: completions and deletions in Planner
    are picked up by the next pass that reads something, and by every full sweep."""
    watermark = read_watermark(deps)
    if watermark is None or needs_full_sweep(deps, watermark):
        return run_full_scan(deps, checkpoint=checkpoint)
    report = ScanReport(run_id=new_run_id(), dry_run=False, started=deps.clock(), mode="incremental")
    since = datetime.fromisoformat(watermark.value["since"]) - timedelta(
        seconds=deps.settings.INCREMENTAL_OVERLAP_SECONDS)
    retry = list(watermark.value.get("retry") or [])
    feed = pass_feed(deps, deps.rules)

    def changed(attributes: set[str]) -> Iterator[dict[str, Any]]:
        read: set[str] = set()
        for product in feed.changed_since(since.isoformat(), attributes):
            read.add(product["id"])
            yield product
        yield from feed.by_ids([pid for pid in retry if pid not in read], attributes)

    run_pass(deps, deps.rules, report, feed, changed, full=False, checkpoint=checkpoint, progress=no_progress)
    save_watermark(deps, watermark, report)
    return report


def needs_full_sweep(deps: ScanDeps, watermark: Optional[Cursor]) -> bool:
    """No watermark yet, or the rules changed since it was set: only a full sweep sees everything."""
    return watermark is None or watermark.value.get("rules_hash") != deps.rules_file.content_hash


def pass_feed(deps: ScanDeps, rules: list[Rule]) -> ProductFeed:
    """The product feed; event rules also need `created` (a product created after a rule was enabled),
    and a rule may name further system fields (`system_fields`, e.g. gtin for job 6)."""
    extra = ["modified", "created"] if any(map(is_event_rule, rules)) else ["modified"]
    for rule in rules:
        extra += getattr(rule, "system_fields", tuple)()
    return ProductFeed(deps.plytix, extra_fields=tuple(dict.fromkeys(extra)))


def run_products_pass(deps: ScanDeps, product_ids: Iterable[str], *, rule_ids: Iterable[str],
                      mode: str = "products") -> ScanReport:
    """Reconcile exactly these products for these rules, e.g. after a channel's feed check (job 5).
    Like the incremental pass, a missing finding means "fixed" only for products this pass read."""
    rules = select_rules(deps.rules, rule_ids)
    report = ScanReport(run_id=uuid.uuid4().hex[:12], dry_run=False, started=deps.clock(), mode=mode)
    feed = pass_feed(deps, rules)
    ids = sorted(set(product_ids))
    run_pass(deps, rules, report, feed, lambda attributes: feed.by_ids(ids, attributes), full=False,
             checkpoint=None, progress=no_progress)
    return report


def run_pass(deps: ScanDeps, rules: list[Rule], report: ScanReport, feed: ProductFeed,
             products: Callable[[set[str]], Iterable[dict[str, Any]]], *, full: bool,
             checkpoint: Optional[Callable[[str], None]], progress: Progress,
             read_before: frozenset[str] = frozenset()) -> None:
    """One pass inside a `scan_pass` span, so its Plytix, Graph and storage calls group under it in the
    invocation's trace (shared/telemetry.py)."""
    with span("scan_pass", run_id=report.run_id, mode=report.mode, dry_run=report.dry_run):
        _read_and_reconcile(deps, rules, report, feed, products, full=full, checkpoint=checkpoint,
                            progress=progress, read_before=read_before)


def _read_and_reconcile(deps: ScanDeps, rules: list[Rule], report: ScanReport, feed: ProductFeed,
                        products: Callable[[set[str]], Iterable[dict[str, Any]]], *, full: bool,
                        checkpoint: Optional[Callable[[str], None]], progress: Progress,
                        read_before: frozenset[str] = frozenset()) -> None:
    """Read products once for all rules, evaluate them, reconcile; fills `report`.

    Links are read first, so the pass knows which products its tasks are about: those are the ones
    whose absence of a finding may close a task, and only if this pass really read them. A full sweep
    pages without `order`, so a product can slip between pages when others are deleted meanwhile; the
    linked products a sweep did not return are therefore looked up again by id, and only those that no
    longer exist count as gone."""
    calls_before = _api_calls(deps)
    # Before anything runs: a rule naming an attribute the account does not have (a typo) would make
    # every search a 422, or every product look incomplete. AccountMismatch names file, line and label.
    feed.check_rules(deps.rules_file, rule_ids={rule.id for rule in rules})
    for rule in rules:
        attach = getattr(rule, "attach_stores", None)  # a rule reading stored state, e.g. feed checks (job 5)
        if attach is not None:
            attach(deps.stores)
    families = feed.families()
    details = DetailResolver(deps.plytix, deps.stores.families, write=not report.dry_run)
    attributes = set().union(*(rule.needed_attributes() for rule in rules)) if rules else set()
    links_by_rule = {rule.id: {link.fingerprint: link for link in deps.stores.links.list_rule(rule.id)} for rule in rules}
    watched = _linked_products(links_by_rule)
    findings: dict[str, list[Finding]] = defaultdict(list)
    read: set[str] = set()  # watched products this pass evaluated (memory grows with links, not catalog)
    events = EventPass.for_rules(deps.stores, rules, deps.settings.ENVIRONMENT_NAME, report.started,
                                 report.dry_run)
    changes: dict[str, Any] = {}
    level_rules = [rule for rule in rules if not is_event_rule(rule)]

    def evaluate(product: dict[str, Any]) -> None:
        product_id = str(product.get("id"))
        try:
            view = ProductView.from_plytix(product, families,
                                           stage_attribute=deps.rules_file.workflow_stage_attribute)
            found = [f for rule in rules if rule.selects(view)
                     for f in rule.evaluate(view, deps.settings.ENVIRONMENT_NAME)]
            product_changes = changes.get(product_id)
            event_found = events.findings(view, product_changes) if events is not None else []
            deciding = rules if events is not None and events.may_select(product_changes) else level_rules
            if lacks_details(product) and (found or event_found or selection_needs_details(deciding, view)):
                # Family (routing, grouping, selection) and level come from the cache or one GET.
                view = ProductView.from_plytix(details.complete(product), families,
                                               stage_attribute=deps.rules_file.workflow_stage_attribute)
                found = [f for rule in rules if rule.selects(view)
                         for f in rule.evaluate(view, deps.settings.ENVIRONMENT_NAME)]
                event_found = events.findings(view, product_changes) if events is not None else []
            if events is not None:
                events.register(product_id, product_changes, event_found)
            found += event_found
        except Exception as exc:  # one odd product must not stop the pass for the catalog
            log.exception("evaluating product %s failed", product_id)
            report.errors.append(f"product {product_id!r}: {exc.__class__.__name__}: {exc}")
            report.retry_products.add(product_id)
            return  # not counted as read: its links are left as they are
        if product_id in watched:
            read.add(product_id)
        for finding in found:
            findings[finding.rule_id].append(finding)

    for page in _pages(products(attributes), COMPARE_BATCH if events is not None else PAGE_SIZE):
        changes = events.compare(page) if events is not None else {}
        for product in page:
            report.products_seen += 1
            evaluate(product)
            progress(report)
    changes = {}
    deleted: set[str] = set()
    if full:
        missing = watched - read - read_before - report.retry_products  # read_before: a segmented sweep's earlier windows
        returned: set[str] = set()
        for product in feed.by_ids(missing, attributes):
            returned.add(str(product.get("id")))
            evaluate(product)
        deleted = missing - returned
        read |= deleted  # deleted from Plytix: read, and gone
    for rule in rules:
        catalog_findings = getattr(rule, "pass_findings", None)  # jobs 6, 7: groups from the rule's stored index
        if catalog_findings is not None:
            findings[rule.id].extend(catalog_findings(deps.settings.ENVIRONMENT_NAME, deps.settings.product_url))
    if events is not None:
        events.resolve_plans(findings, deps.planner, report.errors)
    else:  # a project's own plan (job 7)
        resolve_group_plans(findings, deps.planner, deps.stores, dry_run=report.dry_run, errors=report.errors)
    report.findings = sum(len(f) for f in findings.values())
    if report.products_seen or full:
        _reconcile(deps, rules, links_by_rule, findings, report, evaluated=read.__contains__,
                   deleted=deleted, checkpoint=checkpoint, progress=progress)
    if events is not None:
        events.finish(report.planned, report.retry_products, deps.plytix, deps.clock, report.errors)
        report.events = dict(events.stats)
    # What a segmented sweep's final step need not look up again: the linked products read, and the
    # products whose findings this pass may just have linked.
    report.linked_read = read | {f.product.id for found in findings.values() for f in found if f.product.id}
    report.api_calls = {k: v - calls_before.get(k, 0) for k, v in _api_calls(deps).items()}
    report.finished = deps.clock()
    log_event(log, "scan_finished", run_id=report.run_id, mode=report.mode, dry_run=report.dry_run,
              products=report.products_seen, findings=report.findings,
              **{f"done_{k}": v for k, v in report.done.items()})


def _pages(products: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Products in batches, so that their snapshots are read in one request per partition per batch."""
    page: list[dict[str, Any]] = []
    for product in products:
        page.append(product)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _linked_products(links_by_rule: dict[str, dict[str, Link]]) -> set[str]:
    """Every product a stored link is about (group links: their members)."""
    return {p for links in links_by_rule.values() for link in links.values()
            for p in _products_about(link.product_id, link.data)}


def read_watermark(deps: ScanDeps) -> Optional[Cursor]:
    return deps.stores.cursors.get(WATERMARK_CURSOR)


def _recent_passes(previous: Optional[Cursor], report: ScanReport) -> list[dict[str, Any]]:
    """The last RECENT_PASSES passes that moved the watermark, newest first, with their API calls: what
    the operations page shows of the scheduled passes (they keep no run row). Bounded, so the cursor
    every incremental pass reads stays small."""
    entry = {"run_id": report.run_id, "mode": report.mode, "started": report.started.isoformat(),
             "finished": report.finished.isoformat() if report.finished else None,
             "products_seen": report.products_seen, "actions_done": sum(report.done.values()),
             "api_calls": report.api_calls}
    older = list(previous.value.get("recent") or []) if previous is not None else []
    return [entry, *older][:RECENT_PASSES]


def save_watermark(deps: ScanDeps, previous: Optional[Cursor], report: ScanReport) -> None:
    """Move the watermark to the pass's start (never backwards) and remember the products to retry.
    A concurrent pass that moved it first wins: the next pass re-reads a little more, which is harmless."""
    since = report.started.isoformat()
    if previous is not None and previous.value.get("since", "") > since:
        return
    retry = sorted(report.retry_products)[:MAX_RETRY_PRODUCTS]
    cursor = Cursor(name=WATERMARK_CURSOR,
                    value={"since": since, "rules_hash": deps.rules_file.content_hash, "retry": retry,
                           "plan_capacity": report.plan_capacity, "run_id": report.run_id,
                           "recent": _recent_passes(previous, report)},
                    etag=previous.etag if previous else None)
    try:
        deps.stores.cursors.save(cursor)
    except ConcurrentUpdate:
        pass


def no_progress(report: ScanReport) -> None:
    """The timers report nothing while they run."""


def _reconcile(deps: ScanDeps, rules: list[Rule], links_by_rule: dict[str, dict[str, Link]],
               findings: dict[str, list[Finding]], report: ScanReport, *, evaluated: Callable[[str], bool],
               deleted: set[str], checkpoint: Optional[Callable[[str], None]], progress: Progress) -> None:
    """Plan every rule's actions, cap creations, and (unless a dry run) execute them.
    `evaluated(product_id)` says whether this pass read that (linked) product; `deleted` are linked
    products a full sweep found gone from Plytix."""
    settings, now = deps.settings, deps.clock()
    overflow = deps.rules_file.plan_overflow
    plan_ids = {f.plan_id for fs in findings.values() for f in fs} | {
        link.plan_id for links in links_by_rule.values() for link in links.values() if link.plan_id}
    if overflow.spill_plan_id and plan_ids:
        plan_ids.add(overflow.spill_plan_id)
    # a dry run's launch-wave plan that does not exist yet has no tasks to list
    plan_ids = {p for p in plan_ids if not p.startswith(NEW_PLAN_PREFIX)}
    tasks, unreachable = _list_tasks(deps.planner, plan_ids, report)
    capacity = PlanCapacity(tasks.values(), plan_ids - unreachable, settings.PLAN_CAPACITY_MARGIN)
    remaining = settings.MAX_TASKS_PER_RUN
    first_runs: list[str] = []
    for rule in rules:
        links = links_by_rule[rule.id]
        first_run = deps.stores.cursors.get(rule_cursor(rule.id)) is None
        backfill_skipped = first_run and settings.SKIP_BACKFILL
        event = is_event_rule(rule)
        found = findings.get(rule.id, ())
        desired = build_desired(rule_id=rule.id, rule_name=rule.name, environment=settings.ENVIRONMENT_NAME,
                                findings=retarget(found, links) if event else found, links=links,
                                # suppressed gaps are remembered one by one, never as a group
                                group_threshold=(NO_GROUPING if backfill_skipped
                                                 else rule.group_threshold or settings.GROUP_THRESHOLD),
                                # an event rule's absent finding says nothing about a group's members
                                evaluated=_nothing_read if event else evaluated,
                                single=getattr(rule, "desired_for", product_desired))
        if first_run:
            first_runs.append(rule.id)
        policy = Policy(reopen=rule.reopen_policy or settings.REOPEN_POLICY,
                        deleted_cooldown=timedelta(days=settings.DELETED_TASK_COOLDOWN_DAYS),
                        claim_timeout=deps.stale_claim_after, skip_backfill=settings.SKIP_BACKFILL,
                        writes_back=on_complete_of(deps.rules_file, rule.id) is not None,
                        event_driven=event)
        actions = plan_rule(rule_id=rule.id, desired=desired, links=links.values(), tasks=tasks,
                            covered=lambda link: _covered(link, evaluated), policy=policy, now=now,
                            first_run=first_run, deleted=lambda link: link.product_id in deleted)
        # A plan that could not be listed: its work waits, and its products go on the retry list so the
        # next incremental pass does it (not the next full sweep, up to a day later).
        for action in actions:
            if action.plan_id in unreachable:
                report.retry_products.update(_products_of(action))
        actions = [a for a in actions if a.plan_id not in unreachable]
        actions, remaining = apply_creation_cap(actions, remaining)
        actions = fit_to_capacity(actions, capacity, overflow, _digester(
            rule, settings.ENVIRONMENT_NAME, findings.get(rule.id, ()), links, evaluated))
        report.planned.extend(actions)
    report.plan_capacity = capacity.to_json()
    if report.dry_run:
        return
    ctx = ExecutionContext(stores=deps.stores, planner=deps.planner, now=deps.clock, run_id=report.run_id,
                           product_url=deps.settings.product_url,
                           checkpoint=checkpoint or (lambda step: None), plan_tasks=tasks,
                           on_completed=lambda link: queue_write_back(
                               deps.stores, deps.rules_file, link, writeback_context(deps, report.run_id)))
    for action in report.planned:
        if action.kind not in WRITING_KINDS:
            report.skipped[action.kind.value] += 1
            report.retry_products.update(_products_of(action))

    def counted(outcome: Outcome) -> None:
        action = outcome.action
        (report.done if outcome.done else report.skipped)[action.kind.value] += 1
        if outcome.retry:
            report.retry_products.update(_products_of(action))
        if not outcome.done and outcome.note:
            report.errors.append(f"{action.kind.value} {action.fingerprint[:12]}: {outcome.note}")
        progress(report)

    # Crash tests stop a pass at a named step of one action: one at a time, so that step is well defined.
    workers = 1 if checkpoint is not None else settings.GRAPH_CONCURRENCY
    try:
        run_actions(Executor(ctx), [a for a in report.planned if a.kind in WRITING_KINDS], workers, counted)
    finally:
        assert ctx.journal is not None
        for room in capacity.overflowing().values():
            ctx.journal.audit(AuditEntry(
                action="plan_overflow", run_id=report.run_id, details=room.to_json(), plan_id=room.plan_id,
                reason=f"plan {room.plan_id} holds {room.active} active tasks (Planner allows about "
                       f"{PLANNER_ACTIVE_TASK_LIMIT}): {room.overflow} new tasks did not fit; {room.spilled} "
                       f"spilled, {room.digested} in digest tasks, {room.deferred} deferred"))
        ctx.journal.flush()
    # A window of a segmented sweep (shared/sweep.py) is not a rule's whole first pass: with SKIP_BACKFILL
    # every window's gaps are the backfill, so the rules are marked seen by the sweep's final step.
    for rule_id in first_runs if report.mode != SWEEP_WINDOW_MODE else ():
        _mark_seen(deps, rule_id, report.run_id, report.started)
    for rule in rules:
        after = getattr(rule, "after_pass", None)  # job 7: progress from this pass's task listing
        if after is not None:
            report.errors.extend(after(deps, tasks, report.run_id))


def _digester(rule: Rule, environment: str, findings: Iterable[Finding], links: dict[str, Link],
              evaluated: Callable[[str], bool]) -> Digest:
    """Digest tasks for one rule's creations that did not fit (capacity.fit_to_capacity): a new group task,
    or the re-creation of the key's finished group. A key whose group another worker is creating (pending)
    or that is still open waits (an open group would have taken these findings in already)."""
    by_fp = {f.fingerprint: f for f in findings}

    def digest(overflow: list[Action]) -> tuple[list[Action], list[Action]]:
        groups, beyond = digest_desired(rule_id=rule.id, rule_name=rule.name, environment=environment,
                                        findings=[by_fp[a.fingerprint] for a in overflow], evaluated=evaluated)
        left = {f.fingerprint for f in beyond}
        actions = []
        for group in groups:
            link = links.get(group.fingerprint)
            members = len(group.data.get("members") or ())
            reason = f"{members} products grouped: plan {group.plan_id} is near Planner's active task limit"
            if link is None:
                actions.append(Action(Kind.create, rule.id, group.fingerprint, reason, desired=group))
            elif link.state in (LinkState.closed, LinkState.completed, LinkState.deleted):
                actions.append(Action(Kind.recreate, rule.id, group.fingerprint, reason, desired=group, link=link))
            else:
                left |= set(group.data.get("members") or ())
        return actions, [a for a in overflow if a.fingerprint in left]

    return digest


def _products_about(product_id: Optional[str], data: dict[str, Any]) -> set[str]:
    """The products a link or desired task is about: its product, or a group's members."""
    if product_id:
        return {product_id}
    return {m["product_id"] for m in (data.get("members") or {}).values() if m.get("product_id")}


def _products_of(action: Action) -> set[str]:
    """The products whose re-reading lets a later pass finish this action."""
    data = (action.desired.data if action.desired else None) or (action.link.data if action.link else {})
    return _products_about(action.product_id, data)


def _covered(link: Link, evaluated: Callable[[str], bool]) -> bool:
    """Did this pass read everything the link is about? A group link: every member's product."""
    return all(evaluated(p) for p in _products_about(link.product_id, link.data))


def _list_tasks(planner: PlannerClient, plan_ids: Iterable[str],
                report: ScanReport) -> tuple[dict[str, PlannerTask], set[str]]:
    """Every task of the plans the rules use: one listing per plan per pass (pages of ~400). A plan
    that cannot be listed is reported and its work skipped, so one bad plan does not stop the rules
    that use good ones."""
    tasks, failed = planner.list_plans_tasks(plan_ids)
    for plan_id, exc in failed.items():
        report.errors.append(f"plan {plan_id}: cannot list its tasks ({exc}); its rules' work is skipped")
    return tasks, set(failed)


def _nothing_read(product_id: str) -> bool:
    return False


def _mark_seen(deps: ScanDeps, rule_id: str, run_id: str, started: datetime) -> None:
    """Record that a rule has had its first real pass (SKIP_BACKFILL applies only before that) and when:
    event rules count a product as created only when it was created after that."""
    try:
        deps.stores.cursors.save(Cursor(name=rule_cursor(rule_id), value={"first_run": run_id,
                                                                            "since": started.isoformat()},
                                        etag=None))
    except ConcurrentUpdate:
        pass  # a concurrent pass recorded it first: same meaning


def _api_calls(deps: ScanDeps) -> dict[str, int]:
    return {"plytix": sum(deps.plytix.stats.snapshot()["calls"].values()), "graph": deps.planner.stats.total_calls}
