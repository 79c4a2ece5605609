"""The completion watcher: Planner's side of the feed. Finds completed, reopened, deleted and reassigned
tasks by listing the plans that hold open links, and hands completions to the write-back (job 4).

Why polling: Graph has no change notifications for Planner (API_FACTS.md), so a timer
(COMPLETION_SCHEDULE, every minute by default) lists the tasks of every plan that holds open links, every
page (about 400 tasks a page), and compares them with the links. With PLANNER_DELTA=beta the beta delta
query replaces the listing (shared/planner_delta.py); any failure of it falls back to the listing.

Agreement with the scans: both recognise a person's completion the same way (percentComplete 100,
completedBy a user, link open) and both go through shared.writeback.completion, whose outbox row id is
derived from the completion. Whoever comes first creates the row; the other finds it. The link moves to
`completed` only after the row exists, so a crash in between is simply seen again next time.

A reopened task moves nothing back: the link becomes `open` again and the audit says so; a completed
write-back is never undone, and completing the same task again finds its row already done.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Optional

from shared.observability import get_logger, log_event
from shared.planner import PlannerClient, PlannerError, PlannerNotFound, PlannerTask
from shared.planner_delta import read_plan_delta
from shared.plytix import PlytixClient
from shared.rules import RulesFile
from shared.settings import PlannerDelta, Settings
from shared.store import AuditEntry, ConcurrentUpdate, CursorStore, Link, LinkState, TableStores
from shared.writeback import (
    Outbox,
    Writeback,
    WritebackContext,
    WritebackState,
    on_complete_of,
    process,
    record_completion,
    writeback_context,
)

log = get_logger(__name__)
WATCHED_STATES = {LinkState.open, LinkState.completed}


@dataclass
class WatcherDeps:
    settings: Settings
    rules_file: RulesFile
    plytix: PlytixClient
    planner: PlannerClient
    stores: TableStores
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    checkpoint: Callable[[str], None] = field(default=lambda step: None)
    sleep: Optional[Callable[[float], None]] = None  # tests: no real waits between write attempts


@dataclass
class WatcherReport:
    run_id: str
    mode: str = "v1.0"
    plans: int = 0
    links: int = 0
    seen: Counter = field(default_factory=Counter)  # completed, reopened, deleted, reassigned
    writebacks: Counter = field(default_factory=Counter)  # final state of each row worked this run
    graph_calls: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "mode": self.mode, "plans": self.plans, "links": self.links,
                "seen": dict(self.seen), "writebacks": dict(self.writebacks), "graph_calls": self.graph_calls,
                "errors": self.errors}


@dataclass
class PlanTasks:
    """What one look at a plan returned: `tasks` by id (None: deleted). `complete` says the look covers
    the whole plan, so a task it does not name is gone; a delta round names only what changed."""

    tasks: dict[str, Optional[PlannerTask]]
    complete: bool
    commit: Callable[[], None] = lambda: None  # run once the watcher has acted on every task of the look


# listing(plan_id, watched links of the plan by task id, report): the plan's tasks, or None (unreadable)
Listing = Callable[[str, Mapping[str, Link], WatcherReport], Optional[PlanTasks]]


def run_watcher(deps: WatcherDeps, *, listing: Optional[Listing] = None) -> WatcherReport:
    """One watcher run: read the watched links, list their plans, act on every difference, then work
    the outbox rows that are due (retries of earlier failures, rows a crashed worker left).

    `listing` returns a plan's tasks or None when the plan could not be read; the default is the v1.0
    listing of every task, or with PLANNER_DELTA=beta the delta query with that listing as its fallback."""
    report = WatcherReport(run_id=secrets.token_hex(6))
    calls_before = deps.planner.stats.total_calls
    by_plan: dict[str, dict[str, Link]] = defaultdict(dict)
    for rule in deps.rules_file.rules:
        if rule.enabled:
            for link in deps.stores.links.list_rule(rule.id, WATCHED_STATES):
                if link.plan_id and link.task_id:
                    by_plan[link.plan_id][link.task_id] = link
    report.plans = len(by_plan)
    report.links = sum(len(links) for links in by_plan.values())
    list_plan = listing or _settings_listing(deps, report)
    ctx = writeback_context(deps, report.run_id)
    for plan_id in sorted(by_plan):
        seen = list_plan(plan_id, by_plan[plan_id], report)
        if seen is None:
            continue
        for task_id, link in by_plan[plan_id].items():
            if task_id in seen.tasks or seen.complete:  # a delta round names only what changed
                observe(deps, ctx, link, seen.tasks.get(task_id), report)
        seen.commit()
    work_due(ctx, report)
    report.graph_calls = deps.planner.stats.total_calls - calls_before
    log_event(log, "watcher_finished", run_id=report.run_id, mode=report.mode, plans=report.plans,
              links=report.links, graph_calls=report.graph_calls,
              **{f"seen_{k}": v for k, v in report.seen.items()})
    return report


def _settings_listing(deps: WatcherDeps, report: WatcherReport) -> Listing:
    if deps.settings.PLANNER_DELTA is PlannerDelta.beta:
        report.mode = "beta"
        return _delta_listing(deps.planner, deps.stores.cursors)
    return _full_listing(deps.planner)


def _full_listing(planner: PlannerClient) -> Listing:
    def listing(plan_id: str, links: Mapping[str, Link], report: WatcherReport) -> Optional[PlanTasks]:
        try:
            return PlanTasks({task.id: task for task in planner.list_plan_tasks(plan_id)}, complete=True)
        except PlannerError as exc:
            report.errors.append(f"plan {plan_id}: cannot list its tasks ({exc})")
            return None
    return listing


def _delta_listing(planner: PlannerClient, cursors: CursorStore) -> Listing:
    """The beta delta query (shared/planner_delta.py); on any failure of it, the v1.0 listing."""
    fallback = _full_listing(planner)

    def listing(plan_id: str, links: Mapping[str, Link], report: WatcherReport) -> Optional[PlanTasks]:
        try:
            changed, commit = read_plan_delta(planner, cursors, plan_id, links, report.seen)
        except (PlannerError, ValueError, TypeError, KeyError) as exc:  # beta: anything unexpected
            report.seen["delta_fallback"] += 1
            log_event(log, "planner_delta_fallback", plan_id=plan_id, error=type(exc).__name__)
            return fallback(plan_id, links, report)
        return PlanTasks(changed, complete=False, commit=commit)
    return listing


def observe(deps: WatcherDeps, ctx: WritebackContext, link: Link, task: Optional[PlannerTask],
            report: WatcherReport) -> None:
    """Act on what Planner shows for one watched link (task None: the task is gone)."""
    try:
        if task is None:
            _deleted(deps, link, report)
        elif task.percent_complete >= 100 and link.state is LinkState.open and not task.completed_by_app:
            _completed(deps, ctx, link, task, report)
        elif task.percent_complete < 100 and link.state is LinkState.completed:
            _reopened(deps, link, task, report)
        elif tuple(link.data.get("assignees") or ()) != task.assignee_ids:
            _reassigned(deps, link, task, report)
    except ConcurrentUpdate:
        report.seen["raced"] += 1  # a scan or another watcher changed the link first: it acted
    except PlannerError as exc:
        report.errors.append(f"task {link.task_id}: {exc}")


def _completed(deps: WatcherDeps, ctx: WritebackContext, link: Link, task: PlannerTask,
               report: WatcherReport) -> None:
    if on_complete_of(deps.rules_file, link.rule_id) is None:
        report.seen["completed_left_to_scans"] += 1  # the rule's reopen policy decides, in the scans
        return
    report.seen["completed"] += 1
    found = record_completion(deps.stores, deps.rules_file, link)  # intent first, then the link
    now = deps.clock()
    deps.stores.links.save(dataclasses.replace(link, state=LinkState.completed, completed_at=now,
                                               task_etag=task.etag))
    _audit(deps, link, "task_completed", "completed in Planner" + (
        f"; write-back {found.id[:12]} queued" if isinstance(found, Writeback) else f"; {found.reason}"), report)
    if isinstance(found, Writeback):
        _work(ctx, found.id, report)


def _reopened(deps: WatcherDeps, link: Link, task: PlannerTask, report: WatcherReport) -> None:
    report.seen["reopened"] += 1
    deps.stores.links.save(dataclasses.replace(link, state=LinkState.open, completed_at=None, task_etag=task.etag))
    _audit(deps, link, "task_reopened", "reopened in Planner; what the completion wrote back to Plytix stays "
                                        "(a product never moves backwards)", report)


def _deleted(deps: WatcherDeps, link: Link, report: WatcherReport) -> None:
    report.seen["deleted"] += 1
    now = deps.clock()
    deps.stores.links.save(dataclasses.replace(link, state=LinkState.deleted,
                                               data={**link.data, "deleted_at": now.isoformat()}))
    if link.task_id and link.plan_id:
        deps.stores.task_index.delete(link.task_id, link.plan_id)
    _audit(deps, link, "mark_deleted", "task no longer in the plan (deleted in Planner)", report)


def _reassigned(deps: WatcherDeps, link: Link, task: PlannerTask, report: WatcherReport) -> None:
    before = link.data.get("assignees")
    deps.stores.links.save(dataclasses.replace(link, data={**link.data, "assignees": list(task.assignee_ids)}))
    if before is not None:  # the first look only records who has the task
        report.seen["reassigned"] += 1
        _audit(deps, link, "task_reassigned", f"reassigned in Planner: {len(before)} -> "
                                              f"{len(task.assignee_ids)} assignee(s)", report)


def _audit(deps: WatcherDeps, link: Link, action: str, reason: str, report: WatcherReport) -> None:
    deps.stores.audit.append(AuditEntry(action=action, reason=reason, rule_id=link.rule_id,
                                        product_id=link.product_id, fingerprint=link.fingerprint,
                                        task_id=link.task_id, run_id=report.run_id))


def _work(ctx: WritebackContext, writeback_id: str, report: WatcherReport) -> None:
    row = process(ctx, writeback_id)
    if row is not None:
        report.writebacks[row.state.value] += 1


def work_due(ctx: WritebackContext, report: WatcherReport) -> None:
    """Work every outbox row that is not final: retries after a backoff, rows whose worker died."""
    outbox = Outbox(ctx.stores.table("writebacks"))
    for state in (WritebackState.pending, WritebackState.applying):
        for row in list(outbox.list(state)):
            _work(ctx, row.id, report)


def handle_task_ids(deps: WatcherDeps, task_ids: Iterable[str]) -> WatcherReport:
    """The push path (notifications, Power Automate): re-read each task from Graph, never trusting what
    the caller said about it, and act on it exactly as a watcher run would."""
    report = WatcherReport(run_id=secrets.token_hex(6), mode="push")
    calls_before = deps.planner.stats.total_calls
    ctx = writeback_context(deps, report.run_id)
    for task_id in dict.fromkeys(task_ids):
        task: Optional[PlannerTask]
        try:
            task = deps.planner.get_task(task_id)
        except PlannerNotFound:
            task = None
        except PlannerError as exc:
            report.errors.append(f"task {task_id}: {exc}")
            continue
        ref = deps.stores.task_index.get(task_id, task.plan_id if task else None)
        link = deps.stores.links.get(ref.rule_id, ref.fingerprint) if ref else None
        if link is None or link.state not in WATCHED_STATES or link.task_id != task_id:
            report.seen["not_ours"] += 1
            continue
        report.links += 1
        observe(deps, ctx, link, task, report)
    report.graph_calls = deps.planner.stats.total_calls - calls_before
    return report
