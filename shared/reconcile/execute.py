"""Carry out planned actions against Planner and the link store, idempotently.

Creation follows DESIGN.md exactly: (1) claim the link row (create_entity, or a conditional update of an
existing row), (2) create the task (the client never re-sends that POST), (3) commit task id and etags with
the claim's ETag. A crash between (1) and (3) leaves a `pending` claim; once it is stale, `adopt` looks in
the plan for a task with the same deterministic title created after the claim and carrying our marker (or
no details yet, if the crash came between the task POST and its details PATCH), and adopts it.

`checkpoint(step)` is called at each step between claim and commit. In production it does nothing; tests
pass one that raises, which is how a process dying at that line is simulated (no real process can be
killed at an exact line from a test).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Callable, Mapping, Optional

from shared.observability import COUNTERS, Count, get_logger, log_event
from shared.planner import (
    ChecklistItem,
    PlannerClient,
    PlannerError,
    PlannerNotFound,
    PlannerStale,
    PlannerTask,
    PlannerUncertainWrite,
    Reference,
    TaskDetails,
    TaskSpec,
)
from shared.planner.client import DetailsChange
from shared.reconcile.content import ChecklistEntry
from shared.reconcile.plan import Action, Desired, Kind, description_hash
from shared.store import AlreadyClaimed, AuditEntry, ConcurrentUpdate, PassJournal, TableStores, TaskRef
from shared.store.links import Link, LinkState

log = get_logger(__name__)
# Which actions move which process counter (/api/health shows them).
_COUNTED = {Kind.create: Count.tasks_created, Kind.recreate: Count.tasks_created, Kind.adopt: Count.tasks_created,
            Kind.close: Count.tasks_closed, Kind.update: Count.tasks_updated, Kind.reopen: Count.tasks_reopened}

# Planner's clock and ours may differ: a task counts as "created after the claim" within this slack.
CLOCK_SKEW = timedelta(minutes=5)
PLANNER_TITLE_LIMIT = 255


class Crash(Exception):
    """Raised by a test's checkpoint to simulate the process dying at that step."""


@dataclass
class Outcome:
    """What one action did: `done` is False when it was skipped (someone else did it) or failed."""

    action: Action
    done: bool
    note: str = ""
    task_id: Optional[str] = None
    retry: bool = False  # not done, and nobody else did it: a later pass should look at it again


@dataclass
class ExecutionContext:
    stores: TableStores
    planner: PlannerClient
    product_url: Callable[[str], str]
    now: Callable[[], datetime]
    run_id: str
    checkpoint: Callable[[str], None] = field(default=lambda step: None)
    # The pass's listing of its plans (task id -> task), taken before any link was read. A claim is stale
    # only after the claim timeout, so a task its crashed creator made is older than this listing.
    plan_tasks: Mapping[str, PlannerTask] = field(default_factory=dict)
    # Audit entries and task index rows, written in batches; whoever builds the context flushes it.
    journal: Optional[PassJournal] = None
    # Called with a link whose task a person completed, before the link is marked completed: the
    # write-back (job 4) records its intent there, so whoever sees the completion first, scan or
    # watcher, queues it once.
    on_completed: Callable[[Link], None] = field(default=lambda link: None)

    def __post_init__(self) -> None:
        if self.journal is None:
            self.journal = self.stores.journal()


class Executor:
    """One method per writing action kind; `run(action)` dispatches, audits and counts."""

    def __init__(self, ctx: ExecutionContext) -> None:
        self.ctx = ctx

    def run(self, action: Action) -> Outcome:
        handler = getattr(self, f"_{action.kind.value}")
        try:
            outcome: Outcome = handler(action)
        except (AlreadyClaimed, ConcurrentUpdate):
            outcome = Outcome(action, False, "another worker acted on this finding first")
        except PlannerUncertainWrite as exc:
            # From a create this leaves the claim pending (a later pass adopts or creates); from any other
            # write, the next pass compares again and repeats what is still needed.
            outcome = Outcome(action, False, f"Planner may or may not have applied this write ({exc}); "
                                             "a later pass looks again", retry=True)
        except PlannerError as exc:
            outcome = Outcome(action, False, f"Planner error: {exc}", retry=True)
        except Crash:
            raise
        except Exception as exc:  # one failing action must not starve every later one
            # Passes act in a stable order: an error that aborted the pass would hit the same action
            # first next time, and nothing after it would ever run. The next pass retries this one.
            log.exception("action %s on %s failed", action.kind.value, action.fingerprint)
            outcome = Outcome(action, False, f"unexpected {exc.__class__.__name__}: {exc}", retry=True)
        if outcome.done or outcome.note:
            self._audit(outcome)
        if outcome.done and action.kind in _COUNTED:
            COUNTERS.add(_COUNTED[action.kind])
        log_event(log, "task_action", action=action.kind.value, done=outcome.done, rule=action.rule_id,
                  product=action.product_id or "", task=outcome.task_id or "", fingerprint=action.fingerprint,
                  run_id=self.ctx.run_id)
        return outcome

    # --- creation -------------------------------------------------------------------------------

    def _create(self, action: Action) -> Outcome:
        desired = _need(action)
        link = self.ctx.stores.links.claim(Link(rule_id=action.rule_id, fingerprint=action.fingerprint,
                                                state=LinkState.pending, product_id=desired.product_id,
                                                scope=desired.scope, plan_id=desired.plan_id,
                                                title=desired.title, data=desired.data))
        try:
            return self._create_and_commit(action, link)
        except PlannerError as exc:
            if not exc.may_have_acted:
                # Graph answered that it did nothing (429, 403 plan full, ...): give the finding back, so
                # the next pass simply creates instead of waiting out the claim and searching the plan.
                self.ctx.stores.links.delete(link)
            raise

    def _recreate(self, action: Action) -> Outcome:
        link = self._reclaim(_need_link(action))
        return self._create_and_commit(action, link)

    def _adopt(self, action: Action) -> Outcome:
        stale = _need_link(action)
        link = self._reclaim(stale)  # our claim now; the crashed worker's commit would fail on the etag
        orphan = self._find_orphan(stale)
        if orphan is None:
            if action.desired is None:
                self.ctx.stores.links.delete(link)
                return Outcome(action, True, "stale claim released: no task was created and none is needed")
            return self._create_and_commit(action, link)
        link = self._commit(link, orphan, details_etag=None)
        if action.desired is None:
            self._close_task(link, orphan, "the problem was fixed while this task was being created")
            return Outcome(action, True, "adopted the orphaned task and closed it", orphan.id)
        # The crash may have come before the details were written: write all of it, the Plytix link too.
        self._write_content(link, action.desired, with_reference=True)
        return Outcome(action, True, "adopted the task created before a crash", orphan.id)

    def _reclaim(self, link: Link) -> Link:
        """Turn an existing row into our pending claim (conditional on its ETag). What we wrote to the old
        task is forgotten (a new task starts empty); its id is kept so adoption never mistakes it."""
        now = self.ctx.now()
        data = {k: v for k, v in link.data.items() if k not in ("checklist", "description_hash")}
        if link.task_id:
            data["previous_task_id"] = link.task_id
        claimed = replace(link, state=LinkState.pending, task_id=None, task_etag=None, details_etag=None,
                          claimed_at=now, updated_at=now, completed_at=None, closed_at=None, data=data)
        return self.ctx.stores.links.save(claimed)

    def _create_and_commit(self, action: Action, link: Link) -> Outcome:
        desired = _need(action)
        self.ctx.checkpoint("claimed")
        try:
            task, details = self._send_create(desired)
        except PlannerUncertainWrite as exc:
            if exc.task is None:
                raise  # even the POST's outcome is unknown: the claim stays, adoption settles it
            self._commit_unfinished(link, exc.task, desired)
            return Outcome(action, False, f"task {exc.task.id} was created but writing its details failed "
                                          f"({exc.message}); the next pass writes them", exc.task.id, retry=True)
        self.ctx.checkpoint("created")
        link = replace(link, data={**desired.data, "checklist": _checklist_json(desired.checklist),
                                   "description_hash": description_hash(desired.description),
                                   "description": details.description})
        self._commit_or_discard(link, task, details.etag)
        self.ctx.checkpoint("committed")
        return Outcome(action, True, f"created task '{desired.title}'", task.id)

    def _send_create(self, desired: Desired) -> tuple[PlannerTask, TaskDetails]:
        """POST the task. When Graph refuses its bucket without acting (a person deleted the bucket, so the
        cached id is stale; 400/404), the client has forgotten that id: look the bucket up again and send
        once more. Nothing was created by the refused POST, so this is no blind repeat of a create; with
        several actions at once, each refused one recovers instead of waiting for the next pass."""
        spec = self._task_spec(desired)
        self.ctx.checkpoint("before_create")
        try:
            return self.ctx.planner.create_task(spec)
        except PlannerError as exc:
            if exc.may_have_acted or exc.status not in (400, 404) or not spec.bucket_id:
                raise
        return self.ctx.planner.create_task(self._task_spec(desired))

    def _commit(self, link: Link, task: PlannerTask, details_etag: Optional[str]) -> Link:
        now = self.ctx.now()
        committed = self.ctx.stores.links.save(replace(
            link, state=LinkState.open, task_id=task.id, plan_id=task.plan_id, bucket_id=task.bucket_id,
            task_etag=task.etag, details_etag=details_etag, updated_at=now))
        self._journal.index(TaskRef(task.id, task.plan_id, link.rule_id, link.fingerprint))
        return committed

    @property
    def _journal(self) -> PassJournal:
        assert self.ctx.journal is not None  # set by ExecutionContext.__post_init__
        return self.ctx.journal

    def _commit_unfinished(self, link: Link, task: PlannerTask, desired: Desired) -> None:
        """Store the id of a task whose details could not be written, with no checklist and no description
        hash: the next pass sees its content differ from the desired one and writes all of it (the Plytix
        link too, `details_pending`), at once, instead of waiting out the claim timeout."""
        self._commit_or_discard(replace(link, data={**desired.data, "details_pending": True}), task, None)

    def _commit_or_discard(self, link: Link, task: PlannerTask, details_etag: Optional[str]) -> Link:
        """Commit a task we just created under our claim. If the claim went stale and another worker took
        it over meanwhile: when it adopted our task, fine; when it made its own, ours is a duplicate and
        goes (no duplicate tasks, ever). ConcurrentUpdate is raised either way."""
        try:
            return self._commit(link, task, details_etag)
        except ConcurrentUpdate:
            current = self.ctx.stores.links.get(link.rule_id, link.fingerprint)
            if current is None or current.task_id != task.id:
                self.ctx.planner.delete_task(task.id)
            raise

    def _find_orphan(self, stale: Link) -> Optional[PlannerTask]:
        """A task with the claim's title, created after the claim, that is ours (marker or no details).
        Newest first, and never the task the link had before (a problem that came back within minutes)."""
        since = (stale.claimed_at or self.ctx.now()) - CLOCK_SKEW
        previous = stale.task_id or stale.data.get("previous_task_id")
        candidates = [t for t in self.ctx.plan_tasks.values() if t.plan_id == stale.plan_id and t.id != previous
                      and t.title == stale.title and (t.created is None or t.created >= since)]
        for task in sorted(candidates, key=lambda t: t.created or since, reverse=True):
            details = self.ctx.planner.get_details(task.id)
            if stale.fingerprint in details.description or not (details.description or details.checklist):
                return task
        return None

    def _task_spec(self, desired: Desired) -> TaskSpec:
        planner = self.ctx.planner
        assignees: tuple[str, ...] = ()
        if desired.owner_upn:
            try:
                assignees = (planner.resolve_user(desired.owner_upn),)
            except PlannerNotFound:
                log.warning("owner %s not found in the directory; task left unassigned", desired.owner_upn)
        due = None
        if desired.due_in_days is not None:
            due = (self.ctx.now() + timedelta(days=desired.due_in_days)).replace(hour=17, minute=0, second=0,
                                                                                    microsecond=0)
        return TaskSpec(plan_id=desired.plan_id, bucket_id=planner.ensure_bucket(desired.plan_id, desired.bucket),
                        title=desired.title[:PLANNER_TITLE_LIMIT], assignee_ids=assignees,
                        priority=desired.priority, due=due, description=desired.description,
                        checklist=tuple(ChecklistItem(e.key, e.title, e.is_checked) for e in desired.checklist),
                        references=self._references(desired))

    def _references(self, desired: Desired) -> tuple[Reference, ...]:
        """The product's page in Plytix, on every product task."""
        if not desired.product_id:
            return ()
        return (Reference(self.ctx.product_url(desired.product_id), "Open in Plytix"),)

    # --- changes to existing tasks --------------------------------------------------------------

    def _unchanged(self, link: Link) -> Link:
        """The link as planned, or ConcurrentUpdate if another pass has written it since we read it.

        Checked when Graph says the details changed since our last write (412 on the stored etag), before
        re-reading and re-applying: a person's edit is kept and our change re-applied, but when another
        pass wrote (the data changed between the two passes' reads), the loser stops and the next pass
        redoes its work. Two passes that disagree therefore never both write the task, and the usual
        case (nobody else wrote) costs no storage read at all."""
        current = self.ctx.stores.links.get(link.rule_id, link.fingerprint)
        if current is None or current.etag != link.etag:
            raise ConcurrentUpdate(f"link {link.fingerprint} changed since this pass read it")
        return current

    def _update(self, action: Action) -> Outcome:
        link, desired = _need_link(action), _need(action)
        # A task whose details failed at creation also gets the link to the product (_commit_unfinished).
        self._write_content(link, desired, with_reference=bool(link.data.get("details_pending")))
        return Outcome(action, True, action.reason, link.task_id)

    def _write_content(self, link: Link, desired: Desired, note: str = "", with_reference: bool = False) -> Link:
        """Patch the checklist (only what changed) and the description (with `note` appended when
        given), then store what we wrote. The stored hash is the rule's description without the note, so
        the next scan compares like with like. `with_reference` also (re)writes the link to Plytix."""
        stored = link.data.get("checklist") or {}
        wanted = _checklist_json(desired.checklist)
        changes: dict[str, Optional[ChecklistItem]] = {
            e.key: ChecklistItem(e.key, e.title, e.is_checked) for e in desired.checklist
            if stored.get(e.key) != [e.title, e.is_checked]}
        changes.update({key: None for key in stored if key not in wanted})
        new_hash = description_hash(desired.description)
        changed = link.data.get("description_hash") != new_hash
        description = desired.description + note if changed or note else None
        references = {ref.url: ref for ref in self._references(desired)} if with_reference else None
        details = self._patch_details(link, description=description, checklist=changes or None,
                                      references=references or None)
        data = {**desired.data, "checklist": wanted, "description_hash": new_hash,
                "description": details.description}
        return self.ctx.stores.links.save(replace(link, data=data, details_etag=details.etag,
                                                  title=desired.title, updated_at=self.ctx.now()))

    def _patch_details(self, link: Link, *, description: DetailsChange[Optional[str]] = None,
                       checklist: DetailsChange[Optional[Mapping[str, Optional[ChecklistItem]]]] = None,
                       references: Optional[Mapping[str, Reference]] = None) -> TaskDetails:
        """One PATCH with the details etag stored at our last write. On 412 (someone wrote since) check
        that no other pass did (see _unchanged), then re-read and re-apply, keeping a person's edit."""
        task_id = link.task_id or ""
        known = _written_details(link)
        if known is not None:
            try:
                return self.ctx.planner.update_details(task_id, description=description, checklist=checklist,
                                                       references=references, known=known)
            except PlannerStale:
                self._unchanged(link)
        return self.ctx.planner.update_details(task_id, description=description, checklist=checklist,
                                               references=references)

    def _close(self, action: Action) -> Outcome:
        link = _need_link(action)
        task = action.task or self.ctx.planner.get_task(link.task_id or "")
        if task is None:
            return self._mark_deleted(action)
        self._close_task(link, task, action.note or "all required data is now present in Plytix")
        return Outcome(action, True, action.reason, task.id)

    def _close_task(self, link: Link, task: PlannerTask, why: str) -> None:
        """Complete the task (with the listing's etag), then tick and note its details (with the etag of our
        last write): two calls. The task goes first because writing details changes the counts a task
        carries (checklistItemCount, activeChecklistItemCount: plannertask.md), and with them, in the
        sandbox at least, the task's etag, while completing a task leaves its details as they are."""
        note = f"\n\nClosed automatically on {self.ctx.now():%Y-%m-%d %H:%M} UTC: {why}."
        closed = self.ctx.planner.close_task(task.id, task.etag)
        # Functions of the current details: a person's edit that races the close is kept, not overwritten.
        details = self._patch_details(
            link, description=lambda current: (current.description or "") + note,
            checklist=lambda current: {key: ChecklistItem(key, item.title, True)
                                       for key, item in current.checklist.items() if not item.is_checked})
        now = self.ctx.now()
        self.ctx.stores.links.save(replace(link, state=LinkState.closed, task_etag=closed.etag, closed_at=now,
                                           details_etag=details.etag, updated_at=now,
                                           data={**link.data, "description": details.description}))

    def _reopen(self, action: Action) -> Outcome:
        link, desired = _need_link(action), _need(action)
        task = self.ctx.planner.reopen_task(link.task_id or "", action.task.etag if action.task else None)
        link = replace(link, task_etag=task.etag, updated_at=self.ctx.now())
        self._write_content(link, desired, note="\n\nReopened automatically: it was completed in Planner, "
                                                "but the data is still missing in Plytix.")
        return Outcome(action, True, action.reason, task.id)

    # --- bookkeeping only -----------------------------------------------------------------------

    def _mark_completed(self, action: Action) -> Outcome:
        link = _need_link(action)
        self.ctx.on_completed(link)
        now = self.ctx.now()
        self.ctx.stores.links.save(replace(link, state=LinkState.completed, completed_at=now, updated_at=now))
        return Outcome(action, True, action.reason, link.task_id)

    def _mark_closed(self, action: Action) -> Outcome:
        link = _need_link(action)
        now = self.ctx.now()
        self.ctx.stores.links.save(replace(link, state=LinkState.closed, closed_at=now, updated_at=now))
        return Outcome(action, True, action.reason, link.task_id)

    def _mark_open(self, action: Action) -> Outcome:
        link = _need_link(action)
        self.ctx.stores.links.save(replace(link, state=LinkState.open, completed_at=None, closed_at=None,
                                           updated_at=self.ctx.now()))
        return Outcome(action, True, action.reason, link.task_id)

    def _mark_deleted(self, action: Action) -> Outcome:
        link = _need_link(action)
        if link.task_id and self.ctx.planner.get_task(link.task_id) is not None:
            return Outcome(action, False)  # created after our listing: not deleted after all
        now = self.ctx.now()
        self.ctx.stores.links.save(replace(link, state=LinkState.deleted, updated_at=now,
                                           data={**link.data, "deleted_at": now.isoformat()}))
        if link.task_id and link.plan_id:
            self.ctx.stores.task_index.delete(link.task_id, link.plan_id)
        return Outcome(action, True, action.reason, link.task_id)

    def _release(self, action: Action) -> Outcome:
        self.ctx.stores.links.delete(_need_link(action))
        return Outcome(action, True, action.reason)

    def _suppress(self, action: Action) -> Outcome:
        desired = _need(action)
        self.ctx.stores.links.claim(Link(rule_id=action.rule_id, fingerprint=action.fingerprint,
                                         state=LinkState.suppressed, product_id=desired.product_id,
                                         scope=desired.scope, title=desired.title, data=desired.data))
        return Outcome(action, True, action.reason)

    def _audit(self, outcome: Outcome) -> None:
        action = outcome.action
        self._journal.audit(AuditEntry(
            action=action.kind.value if outcome.done else f"{action.kind.value}:skipped",
            reason=outcome.note or action.reason, rule_id=action.rule_id, product_id=action.product_id,
            fingerprint=action.fingerprint, task_id=outcome.task_id, run_id=self.ctx.run_id,
            details={"planned_reason": action.reason}))


def _written_details(link: Link) -> Optional[TaskDetails]:
    """The details as our last write left them (etag, checklist, text), or None when the link does not
    know them (written before links kept them, or adopted): then the client reads them first."""
    if not link.details_etag or not isinstance(link.data.get("description"), str):
        return None
    checklist = {key: ChecklistItem(key, title, checked)
                 for key, (title, checked) in (link.data.get("checklist") or {}).items()}
    return TaskDetails(task_id=link.task_id or "", description=link.data["description"], checklist=checklist,
                       references={}, etag=link.details_etag)


def _checklist_json(entries: list[ChecklistEntry]) -> dict[str, list]:
    return {e.key: [e.title, e.is_checked] for e in entries}


def _need(action: Action) -> Desired:
    if action.desired is None:
        raise ValueError(f"{action.kind.value} needs a desired task")
    return action.desired


def _need_link(action: Action) -> Link:
    if action.link is None:
        raise ValueError(f"{action.kind.value} needs a link")
    return action.link


__all__ = ["Crash", "ExecutionContext", "Executor", "Outcome"]
