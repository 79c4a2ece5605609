"""Plan capacity: never send a create that Planner must refuse, and say what did not fit.

Why: Planner allows about 2,400 active (not completed) tasks per plan and answers 403
MaximumActiveTasksInProject beyond (API_FACTS.md; planner-overview.md lists the code). Without counting,
a 100k-product sweep with 5% gaps tried 5,000 creates and 2,600 failed, each still costing a POST, a claim
and its release, and an audit row (issue 14).

The pass lists every plan it writes to anyway, so each plan's active count is known before any action
runs. Creating individual tasks stops `PLAN_CAPACITY_MARGIN` tasks below the limit; what does not fit
follows the rules file's `plan_overflow` policy:
- `spill`: the task is created in `spill_plan_id` instead (while that plan has room);
- `digest` (and spill's fallback): the products are grouped into one task per rule and family, the grouped
  task of GROUP_THRESHOLD, which may use the margin (that is what the margin is for);
- beyond that the work is deferred (retried by later passes) and reported, never sent.
Every action that makes a task active counts: create, recreate, reopen, and adopt (which may create).
Completions during the pass are not counted back: the figure errs on the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable, Optional

from shared.planner import PlannerTask
from shared.reconcile.plan import Action, Desired, Kind
from shared.rules.config import PlanOverflowConfig

# "About 2,400 active tasks per plan" (API_FACTS.md; 403 MaximumActiveTasksInProject beyond it).
PLANNER_ACTIVE_TASK_LIMIT = 2400
ACTIVATING_KINDS = frozenset({Kind.create, Kind.recreate, Kind.reopen, Kind.adopt})
# Builds grouped (digest) tasks for creations that did not fit: returns the digest actions and the
# creations that fit in no digest either.
Digest = Callable[[list[Action]], tuple[list[Action], list[Action]]]


@dataclass
class PlanRoom:
    """One plan's count this pass: active tasks in its listing, and what the pass did with the rest."""

    plan_id: str
    active: int
    stop_at: int  # individual tasks are created while active + taken < stop_at
    taken: int = 0
    overflow: int = 0  # new tasks that did not fit as individual tasks in this plan
    spilled: int = 0  # ... of which went to the spill plan
    digested: int = 0  # ... of which went into digest (grouped) tasks
    deferred: int = 0  # ... of which wait for room

    def to_json(self) -> dict[str, int]:
        return {"active": self.active, "limit": PLANNER_ACTIVE_TASK_LIMIT, "stop_at": self.stop_at,
                "created": self.taken, "overflow": self.overflow, "spilled": self.spilled,
                "digested": self.digested, "deferred": self.deferred}


class PlanCapacity:
    """Room per plan for this pass, from the pass's listing of the plans."""

    def __init__(self, tasks: Iterable[PlannerTask], plan_ids: Iterable[str], margin: int) -> None:
        active: dict[str, int] = dict.fromkeys(plan_ids, 0)
        for task in tasks:
            if task.percent_complete < 100:
                active[task.plan_id] = active.get(task.plan_id, 0) + 1
        self.plans = {plan_id: PlanRoom(plan_id, count, PLANNER_ACTIVE_TASK_LIMIT - margin)
                      for plan_id, count in active.items()}

    def take(self, plan_id: str, *, margin_too: bool = False) -> bool:
        """Count one more active task in the plan if it fits (`margin_too`: up to the hard limit)."""
        room = self.plans.get(plan_id)
        if room is None:  # a plan the pass did not list: Planner has the last word
            return True
        ceiling = PLANNER_ACTIVE_TASK_LIMIT if margin_too else room.stop_at
        if room.active + room.taken >= ceiling:
            return False
        room.taken += 1
        return True

    def overflowing(self) -> dict[str, PlanRoom]:
        return {plan_id: room for plan_id, room in self.plans.items() if room.overflow}

    def to_json(self) -> dict[str, dict[str, int]]:
        return {plan_id: room.to_json() for plan_id, room in sorted(self.plans.items())}


def fit_to_capacity(actions: list[Action], capacity: PlanCapacity, policy: PlanOverflowConfig,
                    digest: Digest) -> list[Action]:
    """The actions with every task-activating one fitted to its plan's room (see the module docstring)."""
    fitted: list[Action] = []
    to_digest: list[Action] = []
    for action in actions:
        plan_id = action.plan_id
        if action.kind not in ACTIVATING_KINDS or plan_id is None or capacity.take(plan_id):
            fitted.append(action)
            continue
        room = capacity.plans[plan_id]
        room.overflow += 1
        spilled = _spill(action, capacity, policy)
        if spilled is not None:
            room.spilled += 1
            fitted.append(spilled)
        elif action.kind is Kind.create and action.desired is not None and action.desired.product_id:
            to_digest.append(action)
        else:
            room.deferred += 1
            fitted.append(_defer(action, room))
    if to_digest:
        digests, left = digest(to_digest)
        for group in digests:
            members = len((group.desired.data.get("members") if group.desired else None) or ())
            plan_id = group.plan_id or ""
            if capacity.take(plan_id, margin_too=True):
                capacity.plans[plan_id].digested += members
                fitted.append(group)
            else:
                members_of = (group.desired.data.get("members") if group.desired else None) or {}
                left += [a for a in to_digest if a.fingerprint in members_of]
        for action in left:
            room = capacity.plans[action.plan_id or ""]
            room.deferred += 1
            fitted.append(_defer(action, room))
    return fitted


def _spill(action: Action, capacity: PlanCapacity, policy: PlanOverflowConfig) -> Optional[Action]:
    """The creation moved to the spill plan, when the policy says so and that plan has room."""
    spill = policy.spill_plan_id
    if policy.policy != "spill" or spill is None or action.desired is None:
        return None
    if action.kind not in (Kind.create, Kind.recreate) or not capacity.take(spill):
        return None
    desired: Desired = replace(action.desired, plan_id=spill)
    return replace(action, desired=desired, reason=f"{action.reason} (plan {action.plan_id} is full: "
                                                   f"created in the spill plan {spill})")


def _defer(action: Action, room: PlanRoom) -> Action:
    return Action(Kind.defer, action.rule_id, action.fingerprint,
                  f"plan {room.plan_id} holds {room.active + room.taken} active tasks, near Planner's limit of "
                  f"{PLANNER_ACTIVE_TASK_LIMIT}: waits for room", desired=action.desired, link=action.link)
