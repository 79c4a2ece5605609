"""Decide what to do: desired tasks vs stored links vs what Planner shows. Pure: no I/O.

Why pure: a dry run must return exactly the actions a real run would take, and the decision table
(finding present/absent x link state x task open/completed/deleted) is the part most worth testing
on its own. The executor (execute.py) carries the actions out with the idempotent protocol.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Callable, Iterable, Mapping, Optional

from shared.planner import PlannerTask
from shared.reconcile.content import ChecklistEntry
from shared.settings import ReopenPolicy
from shared.store.links import Link, LinkState


class Kind(str, Enum):
    """Every action the reconciler can take; the value is what dry runs and the audit log show."""

    create = "create"  # claim a new link, create the task, commit
    recreate = "recreate"  # re-claim an existing link row (regression, new_task policy, after cooldown)
    adopt = "adopt"  # take over a stale pending claim: adopt its orphaned task or create one
    update = "update"  # tick/add checklist items, refresh the description
    close = "close"  # the finding went away: note, tick, complete the task
    reopen = "reopen"  # a person completed the task but the data is still missing
    mark_completed = "mark_completed"  # record a person's completion (leave policy)
    mark_closed = "mark_closed"  # finding gone and the task already complete: just record it
    mark_deleted = "mark_deleted"  # a person deleted the task in Planner
    mark_open = "mark_open"  # a person reopened a task we had recorded as completed or closed
    release = "release"  # drop a link row that no longer stands for anything
    suppress = "suppress"  # first enablement with backfill skipped: remember, create nothing
    defer = "defer"  # over the per-run creation cap: next scan creates it
    wait = "wait"  # someone else holds a fresh claim


# Actions that change Planner or the store; `defer` and `wait` only report.
WRITING_KINDS = frozenset(Kind) - {Kind.defer, Kind.wait}
CREATING_KINDS = frozenset({Kind.create, Kind.recreate})


@dataclass
class Desired:
    """A task that should exist (open) for one finding or group, with its full content."""

    rule_id: str
    fingerprint: str
    scope: str
    title: str
    description: str
    checklist: list[ChecklistEntry]
    owner_upn: str
    plan_id: str
    bucket: str
    priority: int
    due_in_days: Optional[int]
    product_id: Optional[str]
    data: dict[str, Any] = field(default_factory=dict)  # stored on the link: kind, missing keys, members


@dataclass
class Action:
    kind: Kind
    rule_id: str
    fingerprint: str
    reason: str
    desired: Optional[Desired] = None
    link: Optional[Link] = None
    task: Optional[PlannerTask] = None
    note: str = ""  # `close`: why, as written on the task (default: the data is complete now)

    @property
    def product_id(self) -> Optional[str]:
        if self.desired is not None:
            return self.desired.product_id
        return self.link.product_id if self.link is not None else None

    @property
    def plan_id(self) -> Optional[str]:
        """The plan the action writes to: the desired task's, else the link's."""
        if self.desired is not None:
            return self.desired.plan_id
        return self.link.plan_id if self.link is not None else None

    def to_json(self) -> dict[str, Any]:
        """What a dry run returns: kind, reason and enough to recognise the task."""
        title = self.desired.title if self.desired else (self.link.title if self.link else "")
        out: dict[str, Any] = {"action": self.kind.value, "rule": self.rule_id, "fingerprint": self.fingerprint,
                               "product": self.product_id, "title": title, "reason": self.reason}
        if self.link is not None and self.link.task_id:
            out["task_id"] = self.link.task_id
        return out


@dataclass(frozen=True)
class Policy:
    """The knobs of the decision table (from settings and the rule)."""

    reopen: ReopenPolicy
    deleted_cooldown: timedelta
    claim_timeout: timedelta
    skip_backfill: bool
    writes_back: bool = False  # the rule has on_complete: a person's completion is final (job 4)
    event_driven: bool = False  # jobs 2, 3: an absent finding never means "fixed" (see _decide_event)


def plan_rule(*, rule_id: str, desired: Mapping[str, Desired], links: Iterable[Link],
              tasks: Mapping[str, PlannerTask], covered: Callable[[Link], bool], policy: Policy,
              now: datetime, first_run: bool, deleted: Callable[[Link], bool] = lambda link: False) -> list[Action]:
    """Actions for one rule. `tasks` is the plans' task listing taken this scan (task id -> task);
    `covered(link)` says whether this pass evaluated the link's subject (a full sweep covers all), so an
    absent finding means "fixed" only where we actually looked. `deleted(link)`: its product no longer
    exists in Plytix (event rules close such tasks; level rules see it as an absent finding)."""
    actions: list[Action] = []
    seen: set[str] = set()
    for link in links:
        seen.add(link.fingerprint)
        want = desired.get(link.fingerprint)
        action = (_decide_event(link, want, tasks, policy, now, deleted(link)) if policy.event_driven
                  else _decide(link, want, tasks, covered(link), policy, now))
        if action is not None:
            actions.append(action)
    for fp, want in desired.items():
        if fp in seen:
            continue
        if policy.event_driven and want.data.get("close_note"):
            continue  # asks to close a task that does not exist: nothing to do
        if first_run and policy.skip_backfill and not policy.event_driven:
            actions.append(Action(Kind.suppress, rule_id, fp, "rule's first scan with SKIP_BACKFILL: "
                                  "existing gap recorded, no task", desired=want))
        else:
            actions.append(Action(Kind.create, rule_id, fp, _missing_reason(want), desired=want))
    return actions


def _missing_reason(want: Desired) -> str:
    missing = want.data.get("missing_labels") or []
    if want.data.get("kind") == "group":
        return f"{len(want.data.get('members', {}))} products fail the rule"
    return "missing: " + ", ".join(missing) if missing else "rule finding"


def _decide(link: Link, want: Optional[Desired], tasks: Mapping[str, PlannerTask], covered: bool,
            policy: Policy, now: datetime) -> Optional[Action]:
    """The decision table for one existing link."""
    fp, rule_id = link.fingerprint, link.rule_id
    gone = want is None and covered

    def act(kind: Kind, reason: str, task: Optional[PlannerTask] = None) -> Action:
        return Action(kind, rule_id, fp, reason, desired=want, link=link, task=task)

    if link.state is LinkState.pending:
        claimed = link.claimed_at or now
        if now - claimed < policy.claim_timeout:
            return act(Kind.wait, "another worker holds a fresh claim")
        if want is None and not covered:
            return None  # not read this pass: whether the task is still needed is unknown
        return act(Kind.adopt, "stale claim: adopt the task its creator may have made, or create")
    if link.state is LinkState.suppressed:
        return act(Kind.release, "baseline gap fixed") if gone else None
    if link.state is LinkState.open:
        task = tasks.get(link.task_id or "")
        if task is None:
            return act(Kind.mark_deleted, "task no longer in the plan (deleted in Planner)")
        if task.percent_complete >= 100:
            if policy.writes_back and not task.completed_by_app:
                return act(Kind.mark_completed, "completed in Planner: the rule's on_complete writes back", task)
            if want is None:
                return act(Kind.mark_closed, "task completed and the data is fixed", task) if covered else None
            if policy.reopen is ReopenPolicy.reopen:
                return act(Kind.reopen, "completed in Planner but still " + _missing_reason(want), task)
            if policy.reopen is ReopenPolicy.new_task:
                return act(Kind.recreate, "completed in Planner but still " + _missing_reason(want), task)
            return act(Kind.mark_completed, "completed in Planner; reopen policy is leave", task)
        if gone:
            return act(Kind.close, "fixed in Plytix: nothing is missing any more", task)
        if want is not None and _content_changed(link, want):
            return act(Kind.update, "the missing set changed: " + _missing_reason(want), task)
        return None
    if link.state is LinkState.deleted:
        if gone:
            return act(Kind.release, "task was deleted and the data is fixed")
        deleted_at = _parse_time(link.data.get("deleted_at")) or link.updated_at or now
        if want is not None and now - deleted_at >= policy.deleted_cooldown:
            return act(Kind.recreate, f"deleted in Planner over {policy.deleted_cooldown.days} days ago and "
                                      "still " + _missing_reason(want))
        return None
    reopened = tasks.get(link.task_id or "")
    if reopened is not None and reopened.percent_complete < 100 and (link.state is LinkState.completed
                                                                    or want is not None):
        return act(Kind.mark_open, "the task was reopened in Planner", reopened)
    if link.state is LinkState.completed:
        if gone:
            return act(Kind.release, "completed task's data is fixed")
        if want is not None and set(want.data.get("members") or ()) - set(link.data.get("members") or ()):
            return act(Kind.recreate, "new products joined a group whose task was completed")
        return None
    # closed: a finding that comes back is a regression
    if want is not None:
        return act(Kind.recreate, "problem is back: " + _missing_reason(want))
    return None


def _decide_event(link: Link, want: Optional[Desired], tasks: Mapping[str, PlannerTask], policy: Policy,
                  now: datetime, deleted: bool) -> Optional[Action]:
    """The decision table of an event rule's link. Its finding exists only in the pass that saw the change
    (and in replays until the snapshot moves), so absence means nothing: the task stays until a person
    completes it, or the rule asks to close it (`close_note`: a launch left backwards, a change undone).
    A finding that meets a link in any later state is an event already handled: one set per occurrence.
    A task about a product deleted from Plytix is closed with a note."""
    fp, rule_id = link.fingerprint, link.rule_id

    def act(kind: Kind, reason: str, task: Optional[PlannerTask] = None) -> Action:
        return Action(kind, rule_id, fp, reason, desired=want, link=link, task=task)

    if link.state is LinkState.pending:
        if now - (link.claimed_at or now) < policy.claim_timeout:
            return act(Kind.wait, "another worker holds a fresh claim")
        return act(Kind.adopt, "stale claim: adopt the task its creator may have made, or create") if want else None
    task = tasks.get(link.task_id or "")
    if link.state is LinkState.open:
        if task is None:
            return act(Kind.mark_deleted, "task no longer in the plan (deleted in Planner)")
        if task.percent_complete >= 100:
            return act(Kind.mark_completed, "completed in Planner", task)
        if deleted:
            return replace(act(Kind.close, "the product was deleted in Plytix", task),
                           note="the product was deleted in Plytix")
        if want is None:
            return None
        if want.data.get("close_note"):
            return replace(act(Kind.close, str(want.data["close_note"]), task), note=str(want.data["close_note"]))
        if _content_changed(link, want):
            return act(Kind.update, "a further change: " + _missing_reason(want), task)
        return None
    if link.state is LinkState.completed and task is not None and task.percent_complete < 100:
        return act(Kind.mark_open, "the task was reopened in Planner", task)
    return None


def _content_changed(link: Link, want: Desired) -> bool:
    stored = link.data.get("checklist") or {}
    wanted = {e.key: [e.title, e.is_checked] for e in want.checklist}
    return stored != wanted or link.data.get("description_hash") != description_hash(want.description)


def description_hash(text: str) -> str:
    """Short hash of a description: links store it to notice a change without storing the text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _parse_time(value: Any) -> Optional[datetime]:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def apply_creation_cap(actions: list[Action], remaining: int) -> tuple[list[Action], int]:
    """Turn creations beyond the per-run cap into `defer` actions; return (actions, cap left)."""
    capped: list[Action] = []
    for action in actions:
        if action.kind in CREATING_KINDS:
            if remaining <= 0:
                capped.append(Action(Kind.defer, action.rule_id, action.fingerprint,
                                     "MAX_TASKS_PER_RUN reached; created on a later scan",
                                     desired=action.desired, link=action.link))
                continue
            remaining -= 1
        capped.append(action)
    return capped, remaining
