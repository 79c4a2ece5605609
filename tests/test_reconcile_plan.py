"""The decision table (shared/reconcile/plan.py) and task content (content.py), pure and without I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest

from shared.planner import PlannerTask
from shared.reconcile.content import checklist_for, checklist_key
from shared.reconcile.plan import Desired, Kind, Policy, apply_creation_cap, plan_rule
from shared.settings import ReopenPolicy
from shared.store.links import Link, LinkState

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
POLICY = Policy(reopen=ReopenPolicy.reopen, deleted_cooldown=timedelta(days=7), claim_timeout=timedelta(minutes=5),
                skip_backfill=False)


def desired(fp: str = "fp1", missing: tuple[str, ...] = ("Description",)) -> Desired:
    return Desired(rule_id="r", fingerprint=fp, scope="", title="T: SKU1", description="d",
                   checklist=[], owner_upn="a@b.example", plan_id="plan", bucket="b", priority=5,
                   due_in_days=None, product_id="p1", data={"kind": "product", "missing_labels": list(missing)})


def link(state: LinkState, fp: str = "fp1", **extra: object) -> Link:
    from shared.reconcile.plan import description_hash

    data = {"checklist": {}, "description_hash": description_hash("d")}
    return Link(rule_id="r", fingerprint=fp, state=state, product_id="p1", task_id="t1", claimed_at=NOW,
                updated_at=NOW, data={**data, **extra.pop("data", {})}, **extra)  # type: ignore[arg-type]


def task(percent: int = 0) -> PlannerTask:
    return PlannerTask(id="t1", plan_id="plan", bucket_id="b", title="T: SKU1", percent_complete=percent, etag="e",
                       created=NOW, completed=None, completed_by=None, assignee_ids=())


def decide(links: list[Link], want: Optional[Desired], tasks: dict, policy: Policy = POLICY,
           covered: bool = True, first_run: bool = False) -> list[Kind]:
    wanted = {want.fingerprint: want} if want else {}
    actions = plan_rule(rule_id="r", desired=wanted, links=links, tasks=tasks, covered=lambda _: covered,
                        policy=policy, now=NOW, first_run=first_run)
    return [a.kind for a in actions]


@pytest.mark.parametrize("state,want,tasks,expected", [
    (None, True, {}, [Kind.create]),
    (LinkState.open, True, {"t1": task()}, []),
    (LinkState.open, False, {"t1": task()}, [Kind.close]),
    (LinkState.open, True, {}, [Kind.mark_deleted]),
    (LinkState.open, True, {"t1": task(100)}, [Kind.reopen]),
    (LinkState.open, False, {"t1": task(100)}, [Kind.mark_closed]),
    (LinkState.closed, True, {}, [Kind.recreate]),
    (LinkState.closed, False, {}, []),
    (LinkState.completed, False, {}, [Kind.release]),
    (LinkState.completed, True, {}, []),
    (LinkState.suppressed, True, {}, []),
    (LinkState.suppressed, False, {}, [Kind.release]),
    (LinkState.deleted, False, {}, [Kind.release]),
])
def test_decision_table(state, want, tasks, expected):
    links = [] if state is None else [link(state)]
    assert decide(links, desired() if want else None, tasks) == expected


def test_an_absent_finding_is_not_a_fix_where_the_pass_did_not_look():
    assert decide([link(LinkState.open)], None, {"t1": task()}, covered=False) == []
    assert decide([link(LinkState.open)], None, {"t1": task(100)}, covered=False) == []


def test_a_changed_missing_set_updates_the_task():
    changed = desired()
    changed.checklist = checklist_for("fp1", [("description_de", "Description (de)")])
    assert decide([link(LinkState.open)], changed, {"t1": task()}) == [Kind.update]


@pytest.mark.parametrize("policy,expected", [(ReopenPolicy.reopen, Kind.reopen),
                                             (ReopenPolicy.new_task, Kind.recreate),
                                             (ReopenPolicy.leave, Kind.mark_completed)])
def test_completed_while_still_missing_follows_the_reopen_policy(policy, expected):
    chosen = Policy(reopen=policy, deleted_cooldown=POLICY.deleted_cooldown, claim_timeout=POLICY.claim_timeout,
                    skip_backfill=False)
    assert decide([link(LinkState.open)], desired(), {"t1": task(100)}, policy=chosen) == [expected]


def test_a_deleted_task_waits_for_the_cooldown():
    recent = link(LinkState.deleted, data={"deleted_at": (NOW - timedelta(days=2)).isoformat()})
    old = link(LinkState.deleted, data={"deleted_at": (NOW - timedelta(days=8)).isoformat()})
    assert decide([recent], desired(), {}) == []
    assert decide([old], desired(), {}) == [Kind.recreate]


def test_a_fresh_claim_is_left_to_its_owner_and_a_stale_one_is_adopted():
    fresh = link(LinkState.pending)
    stale = link(LinkState.pending)
    stale.claimed_at = NOW - timedelta(minutes=6)
    assert decide([fresh], desired(), {}) == [Kind.wait]
    assert decide([stale], desired(), {}) == [Kind.adopt]


def test_skip_backfill_suppresses_only_on_the_first_run():
    backfill = Policy(reopen=ReopenPolicy.reopen, deleted_cooldown=timedelta(days=7),
                      claim_timeout=timedelta(minutes=5), skip_backfill=True)
    assert decide([], desired(), {}, policy=backfill, first_run=True) == [Kind.suppress]
    assert decide([], desired(), {}, policy=backfill, first_run=False) == [Kind.create]


def test_the_creation_cap_defers_the_rest():
    actions = plan_rule(rule_id="r", desired={f"fp{i}": desired(f"fp{i}") for i in range(5)}, links=[], tasks={},
                        covered=lambda _: True, policy=POLICY, now=NOW, first_run=False)
    capped, left = apply_creation_cap(actions, 3)
    assert [a.kind for a in capped] == [Kind.create] * 3 + [Kind.defer] * 2 and left == 0


def test_a_checklist_holds_at_most_twenty_items_and_says_how_many_more():
    items = [(f"attr{i}", f"Attribute {i}") for i in range(25)]
    entries = checklist_for("fp", items, done=["attr0"])
    assert len(entries) == 20
    assert entries[-1].title == "...and 6 more: see the description"
    assert all(not e.is_checked for e in entries[:19]), "open items come first"
    assert entries[0].key == checklist_key("fp", "attr1")
    assert checklist_key("fp", "attr1") == checklist_key("fp", "attr1") != checklist_key("fp2", "attr1")
