"""Plan capacity: a plan near Planner's ~2,400 active tasks gets no create Graph would refuse; what does
not fit becomes digest tasks, or goes to the spill plan the rules file names, and is reported in the scan
report, the audit and health. Against the stand-ins (whose plans answer 403 MaximumActiveTasksInProject
as Graph does) and Azurite."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from sandbox.graph_state import CATALOG_PLAN_ID, PRODUCT_DATA_PLAN_ID
from shared.reconcile.capacity import PLANNER_ACTIVE_TASK_LIMIT
from shared.rules import build_rules, parse_rules
from shared.scan import ScanDeps, run_full_scan
from tests.scan_world import RULE_ID, RULES_YAML, with_settings

MARGIN = 10
ROOM = 3  # individual tasks the plan still takes


def _fill_plan(world: dict, plan_id: str, room: int) -> int:
    """People's tasks, so that the plan has `room` places left before the margin; returns its active count."""
    active = PLANNER_ACTIVE_TASK_LIMIT - MARGIN - room
    world["graph"].sandbox.seed_tasks(plan_id, active)
    return active


def _active(world: dict, plan_id: str) -> list[dict]:
    return [t for t in world["graph"].sandbox.plan_tasks(plan_id) if t["percentComplete"] < 100]


def _ours(world: dict, plan_id: str) -> list[dict]:
    return [t for t in world["graph"].sandbox.plan_tasks(plan_id) if t["title"].startswith("Complete core content")]


def _deps(world: dict, rules_text: str = RULES_YAML) -> ScanDeps:
    rules_file = parse_rules(rules_text)
    return replace(with_settings(world["deps"], PLAN_CAPACITY_MARGIN=MARGIN), rules_file=rules_file,
                   rules=build_rules(rules_file))


def test_a_full_plan_gets_digest_tasks_and_no_create_graph_would_refuse(world):
    deps = _deps(world)
    findings = run_full_scan(deps, dry_run=True).findings
    assert findings > ROOM + 1
    active = _fill_plan(world, PRODUCT_DATA_PLAN_ID, ROOM)

    report = run_full_scan(deps)

    assert report.errors == [], "no create was refused"
    room = report.plan_capacity[PRODUCT_DATA_PLAN_ID]
    assert room["active"] == active and room["overflow"] == findings - ROOM == room["digested"]
    assert room["deferred"] == 0
    ours = _ours(world, PRODUCT_DATA_PLAN_ID)
    digests = [t for t in ours if "need data" in t["title"]]
    assert digests and len(ours) == ROOM + len(digests) == report.done["create"]
    assert len(_active(world, PRODUCT_DATA_PLAN_ID)) <= PLANNER_ACTIVE_TASK_LIMIT
    group_links = [link for link in deps.stores.links.list_rule(RULE_ID) if link.data.get("kind") == "group"]
    assert sum(len(link.data["members"]) for link in group_links) == findings - ROOM

    entries = deps.stores.audit.for_plan(PRODUCT_DATA_PLAN_ID)
    assert [e.action for e in entries] == ["plan_overflow"]
    assert entries[0].details["overflow"] == findings - ROOM and entries[0].run_id == report.run_id

    # The next pass finds every product where it was put: nothing to create, nothing refused.
    again = run_full_scan(deps)
    assert again.done == Counter() and again.errors == []


def test_with_the_spill_policy_what_does_not_fit_goes_to_the_second_plan(world):
    rules_text = RULES_YAML.replace("rules:\n", f"plan_overflow:\n  policy: spill\n  spill_plan_id: {CATALOG_PLAN_ID}\n"
                                               "rules:\n", 1)
    deps = _deps(world, rules_text)
    findings = run_full_scan(deps, dry_run=True).findings
    _fill_plan(world, PRODUCT_DATA_PLAN_ID, ROOM)

    report = run_full_scan(deps)

    assert report.errors == []
    assert report.plan_capacity[PRODUCT_DATA_PLAN_ID]["spilled"] == findings - ROOM
    assert len(_ours(world, PRODUCT_DATA_PLAN_ID)) == ROOM
    assert len(_ours(world, CATALOG_PLAN_ID)) == findings - ROOM
    assert run_full_scan(deps).done == Counter(), "spilled tasks are tracked like any other"


def test_when_even_the_margin_is_used_up_the_rest_waits_and_no_create_is_sent(world):
    deps = _deps(world)
    findings = run_full_scan(deps, dry_run=True).findings
    world["graph"].sandbox.seed_tasks(PRODUCT_DATA_PLAN_ID, PLANNER_ACTIVE_TASK_LIMIT)
    creates_before = world["graph"].app.faults.calls["graph.create_task"]

    report = run_full_scan(deps)

    assert world["graph"].app.faults.calls["graph.create_task"] == creates_before
    assert report.skipped["defer"] == findings and report.errors == []
    assert report.plan_capacity[PRODUCT_DATA_PLAN_ID]["deferred"] == findings
