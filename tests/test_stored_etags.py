"""Updates and closes at their lower bound of calls, and what happens when someone wrote in between.

A task's details are PATCHed with the etag our last write got back (stored on the link), so ticking a
checklist is one Graph call and closing a task two; only a 412 (a person edited the details meanwhile)
costs a re-read, and then their edit is kept. Against the Graph and Plytix stand-ins and Azurite."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from shared.reconcile.content import ChecklistEntry, checklist_key
from shared.reconcile.execute import ExecutionContext, Executor
from shared.reconcile.plan import Action, Desired, Kind
from shared.scan import ScanDeps, run_full_scan
from shared.store import Link, LinkState
from tests.scan_world import RULE_ID
from tests.test_scan import _fill


def _partly_fixable(deps: ScanDeps) -> Link:
    """A link whose product misses at least two requirements (one can be fixed, one stays)."""
    return next(link for link in deps.stores.links.list_rule(RULE_ID) if len(link.data["missing"]) >= 2)


def _task(world: dict, task_id: str) -> dict[str, Any]:
    return next(t for t in world["graph"].sandbox.plan_tasks(PRODUCT_DATA_PLAN_ID) if t["id"] == task_id)


def _calls(deps: ScanDeps) -> tuple[Counter, int]:
    return Counter(deps.planner.stats.calls), deps.stores.stats.count()


def _since(deps: ScanDeps, before: tuple[Counter, int]) -> tuple[dict[str, int], int]:
    graph, storage = before
    return dict(Counter(deps.planner.stats.calls) - graph), deps.stores.stats.count() - storage


def _links_requests(deps: ScanDeps, before: Counter) -> dict[str, int]:
    return dict(_links_counter(deps) - before)


def _links_counter(deps: ScanDeps) -> Counter:
    return Counter({kind: deps.stores.stats.count("links", kind) for kind in ("read", "replace", "create", "delete")})


def test_a_checklist_tick_is_one_patch_and_one_link_write(world):
    deps, sandbox = world["deps"], world["plytix"].sandbox
    run_full_scan(deps)
    link = _partly_fixable(deps)
    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, link.data["missing"][:1]))

    before, links_before = _calls(deps), _links_counter(deps)
    report = run_full_scan(deps)
    graph, _ = _since(deps, before)

    assert report.done == Counter({"update": 1})
    assert graph == {"list_plan_tasks": 1, "update_details": 1}
    assert _links_requests(deps, links_before) == {"replace": 1}  # no read-before-write
    ticked = [i for i in _task(world, link.task_id)["details"]["checklist"].values() if i["isChecked"]]
    assert len(ticked) == 1


def test_a_close_is_two_patches_and_one_link_write(world):
    deps, sandbox = world["deps"], world["plytix"].sandbox
    run_full_scan(deps)
    link = _partly_fixable(deps)
    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, link.data["missing"]))

    before, links_before = _calls(deps), _links_counter(deps)
    report = run_full_scan(deps)
    graph, _ = _since(deps, before)

    assert report.done == Counter({"close": 1})
    assert graph == {"list_plan_tasks": 1, "update_task": 1, "update_details": 1}
    assert _links_requests(deps, links_before) == {"replace": 1}
    task = _task(world, link.task_id)
    assert task["percentComplete"] == 100
    assert all(item["isChecked"] for item in task["details"]["checklist"].values())
    assert task["details"]["description"].startswith("Product ")
    assert "Closed automatically" in task["details"]["description"]


def test_a_persons_tick_in_between_costs_a_reread_and_is_kept(world):
    deps, sandbox, graph_sandbox = world["deps"], world["plytix"].sandbox, world["graph"].sandbox
    run_full_scan(deps)
    link = _partly_fixable(deps)
    fixed, still_missing = link.data["missing"][0], link.data["missing"][-1]
    # A person ticks the item of a requirement that is still missing (their call, not ours to undo).
    person_key = checklist_key(link.fingerprint, still_missing)
    graph_sandbox.tick_checklist_item(link.task_id, person_key)
    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, [fixed]))

    before = _calls(deps)
    report = run_full_scan(deps)

    assert report.done == Counter({"update": 1}) and report.errors == []
    # 412 on the stored etag, then read and re-apply: three calls instead of one.
    assert _since(deps, before)[0] == {"list_plan_tasks": 1, "update_details": 2, "get_details": 1}
    task = _task(world, link.task_id)
    checklist = task["details"]["checklist"]
    assert checklist[person_key]["isChecked"], "the person's tick is kept"
    assert checklist[checklist_key(link.fingerprint, fixed)]["isChecked"], "and ours is applied"
    assert task["percentComplete"] == 0

    # The link now holds the etag of the re-applied write: the next change is at the bound again.
    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, link.data["missing"]))
    before = _calls(deps)
    assert run_full_scan(deps).done == Counter({"close": 1})
    assert _since(deps, before)[0] == {"list_plan_tasks": 1, "update_task": 1, "update_details": 1}


def test_a_close_after_a_persons_description_edit_keeps_their_text(world):
    deps, sandbox = world["deps"], world["plytix"].sandbox
    run_full_scan(deps)
    link = _partly_fixable(deps)
    # A person writes in the description through Graph (the Planner app does the same).
    deps.planner.update_details(link.task_id, description=lambda current: current.description + "\n\nCarlos: "
                                "supplier sends images on Friday.")
    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, link.data["missing"]))

    before = _calls(deps)
    assert run_full_scan(deps).done == Counter({"close": 1})
    graph, _ = _since(deps, before)
    assert graph == {"list_plan_tasks": 1, "update_task": 1, "update_details": 2, "get_details": 1}
    description = _task(world, link.task_id)["details"]["description"]
    assert "Carlos: supplier sends images on Friday." in description
    assert description.index("Carlos") < description.index("Closed automatically")


def test_a_pass_that_lost_the_race_does_not_write_over_the_winner(world):
    """Two passes read the same link; the first ticks the task. The second's stored etag is then stale,
    and the link changed too: it stops (another worker acted) instead of re-applying an older view."""
    deps, sandbox = world["deps"], world["plytix"].sandbox
    run_full_scan(deps)
    stale_view = _partly_fixable(deps)
    sandbox.edit_product(stale_view.product_id, attributes=_fill(sandbox, stale_view.data["missing"][:1]))
    assert run_full_scan(deps).done == Counter({"update": 1})
    winner = _task(world, stale_view.task_id)["details"]

    # The loser acts on the link as it read it before the winner wrote (its plan: re-add everything).
    desired_before = _desired_from(stale_view)
    ctx = ExecutionContext(stores=deps.stores, planner=deps.planner, product_url=lambda pid: pid,
                           now=deps.clock, run_id="loser")
    outcome = Executor(ctx).run(Action(Kind.update, RULE_ID, stale_view.fingerprint, "stale view",
                                       desired=desired_before, link=stale_view))
    ctx.journal.flush()

    assert not outcome.done and "another worker" in outcome.note
    assert _task(world, stale_view.task_id)["details"]["checklist"] == winner["checklist"]
    assert deps.stores.links.get(RULE_ID, stale_view.fingerprint).state is LinkState.open


def _desired_from(link: Link) -> Desired:
    """A desired task that differs from what the link stored (every item unticked, new description)."""
    checklist = [ChecklistEntry(key, title, False) for key, (title, _) in link.data["checklist"].items()]
    return Desired(rule_id=RULE_ID, fingerprint=link.fingerprint, scope=link.scope, title=link.title,
                   description="an older view of the product", checklist=checklist, owner_upn="",
                   plan_id=link.plan_id or "", bucket="Missing data", priority=3, due_in_days=None,
                   product_id=link.product_id, data=dict(link.data))
