"""Jobs 2 and 3 end to end: the change feed, launch task sets and review tasks against the Plytix and
Graph stand-ins (real HTTP) and Azurite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from sandbox.graph_state import GROUP_ID, PRODUCT_DATA_PLAN_ID
from shared.reconcile.execute import Crash
from shared.scan import run_full_scan, run_incremental_scan
from shared.store import LinkState
from tests.scan_world import build_deps, world_settings

EVENT_RULES = f"""\
version: 1
defaults:
  plan_id: {PRODUCT_DATA_PLAN_ID}
  bucket: Launch
  priority: important
  owner: content.editor@contoso.example
rules:
  - id: launch
    type: launch_checklist
    name: Launch
    trigger: {{stages: [ready_for_syndication], on_create: true}}
    stage_order: [draft, enrichment, approved, ready_for_syndication, published]
    launch_date_attribute: launch_date
    on_leave: close
    tasks:
      - {{key: copy, name: Copy review, checklist: [Title, Description], due: {{days: -7, from: launch_date}}}}
      - {{key: images, name: Image approval, owner: merch.lead@contoso.example, due: {{days: 3, from: now}}}}
  - id: review
    type: review_on_change
    name: Review regulated change
    bucket: Review
    reviewers: {{legal: merch.lead@contoso.example}}
    watch:
      - {{attribute: safety_warning, label: Safety warning, reviewer: legal}}
      - {{attribute: description_html, kind: html, label: Web description}}
    hold: {{attribute: review_status}}
    max_value_chars: 300
"""


@pytest.fixture
def events_world(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str,
                 tmp_path: Path) -> Iterator[dict]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(EVENT_RULES)
    settings = world_settings(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules,
                              GROUP_THRESHOLD=1000)
    from datetime import timedelta
    deps = build_deps(settings, claim_timeout=timedelta(0))
    yield {"deps": deps, "plytix": plytix_sandbox.sandbox, "graph": graph_sandbox.sandbox, "rules": rules}
    deps.plytix.close()
    deps.planner.close()


def tasks(world: dict, prefix: str) -> list[dict]:
    return [t for t in world["graph"].plan_tasks(PRODUCT_DATA_PLAN_ID) if t["title"].startswith(prefix)]


def product_in(world: dict, stage: str, family: str | None = None) -> dict:
    return next(p for p in world["plytix"].products()
                if p["attributes"].get("workflow_stage") == stage and p["status"] != "Archived"
                and (family is None or "safety_warning" in p["attributes"]))


def test_first_pass_is_a_baseline_and_a_stage_flip_flop_creates_one_set(events_world):
    world, deps = events_world, events_world["deps"]
    first = run_full_scan(deps)
    assert first.findings == 0 and first.events["products"] == 200
    product = product_in(world, "approved")
    sandbox = world["plytix"]
    sandbox.edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    sandbox.edit_product(product["id"], attributes={"workflow_stage": "approved"})
    sandbox.edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    entered = run_incremental_scan(deps)
    assert entered.done["create"] == 2, entered.to_json()
    launch = tasks(world, "Launch")
    assert sorted(t["title"] for t in launch) == sorted([f"Launch: {product['sku']} [Copy review]",
                                                          f"Launch: {product['sku']} [Image approval]"])
    for stage in ("approved", "ready_for_syndication", "approved", "ready_for_syndication"):
        sandbox.edit_product(product["id"], attributes={"workflow_stage": stage})
        run_incremental_scan(deps)
    assert len(tasks(world, "Launch")) == 2  # still the one set
    assert Counter(link.state for link in deps.stores.links.list_rule("launch")) == Counter({LinkState.closed: 2})


def test_review_shows_old_and_new_and_a_second_change_updates_the_same_task(events_world):
    world, deps = events_world, events_world["deps"]
    run_full_scan(deps)
    product = product_in(world, "enrichment", family="any")
    old = product["attributes"]["safety_warning"]
    world["plytix"].edit_product(product["id"], attributes={"safety_warning": "Keep away from fire."})
    first = run_incremental_scan(deps)
    assert first.errors == [] and first.events.get("holds") == 1
    [task] = tasks(world, "Review regulated change")
    text = task["details"]["description"]
    assert old in text and "Keep away from fire." in text
    assert world["plytix"].product(product["id"])["attributes"]["review_status"] == "pending"

    world["plytix"].edit_product(product["id"], attributes={"safety_warning": "Keep away from children."})
    second = run_incremental_scan(deps)
    assert second.done["update"] == 1 and second.done.get("create", 0) == 0
    [task] = tasks(world, "Review regulated change")
    text = task["details"]["description"]
    assert old in text and "Keep away from children." in text and "Keep away from fire." not in text
    assert "Re-review latest change" in [i["title"] for i in task["details"]["checklist"].values()]

    world["plytix"].edit_product(product["id"], attributes={"safety_warning": old})
    back = run_incremental_scan(deps)
    assert back.done["close"] == 1
    [task] = tasks(world, "Review regulated change")
    assert task["percentComplete"] == 100 and "changed back to the approved value" in task["details"]["description"]
    assert world["plytix"].product(product["id"])["attributes"]["review_status"] == "approved"
    quiet = run_incremental_scan(deps)  # our own hold writes are no change
    assert quiet.findings == 0


def test_a_crash_between_task_creation_and_snapshot_commit_creates_no_duplicate(events_world):
    world, deps = events_world, events_world["deps"]
    run_full_scan(deps)
    product = product_in(world, "approved")
    world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    created: list[str] = []

    def crash_after_commits(step: str) -> None:
        if step == "committed":
            created.append(step)
            if len(created) == 2:  # both tasks of the set committed, snapshot not yet moved
                raise Crash(step)

    with pytest.raises(Crash):
        run_incremental_scan(deps, checkpoint=crash_after_commits)
    assert len(tasks(world, "Launch")) == 2
    snapshot = deps.stores.snapshots.get(product["id"])
    assert snapshot is not None and snapshot.values["workflow_stage"]["v"] == "approved"  # not moved
    replay = run_incremental_scan(deps)
    assert replay.findings == 2 and replay.done == Counter()  # same event, nothing done twice
    assert len(tasks(world, "Launch")) == 2
    assert deps.stores.snapshots.get(product["id"]).values["workflow_stage"]["v"] == "ready_for_syndication"
    assert run_incremental_scan(deps).findings == 0


def test_a_write_back_recorded_as_echo_is_not_a_change_but_a_person_edit_is(events_world):
    """What job 4 does on a completion (record the echo, then PATCH Plytix) must not come back as a change."""
    from datetime import datetime, timezone

    world, deps = events_world, events_world["deps"]
    run_full_scan(deps)
    product = product_in(world, "enrichment", family="any")
    value = "Approved wording from the completed review."
    deps.stores.snapshots.record_echo(product["id"], {"safety_warning": value}, datetime.now(timezone.utc))
    deps.plytix.patch_product(product["id"], {"attributes": {"safety_warning": value}})
    ours = run_incremental_scan(deps)
    assert ours.products_seen >= 1 and ours.findings == 0 and ours.events["echoes"] == 1
    assert tasks(world, "Review regulated change") == []
    world["plytix"].edit_product(product["id"], attributes={"safety_warning": value + " Edited."})
    theirs = run_incremental_scan(deps)
    assert theirs.done["create"] == 1


def test_a_launch_wave_plan_is_created_once_and_reused(events_world):
    world, deps = events_world, events_world["deps"]
    text = EVENT_RULES.replace("    on_leave: close\n", f"    on_leave: close\n    wave: {{group_id: {GROUP_ID}, "
                                                       "attribute: launch_date, period: month}\n")
    world["rules"].write_text(text)
    deps = build_deps(deps.settings, stores=deps.stores)
    run_full_scan(deps)
    approved = [p for p in world["plytix"].products() if p["attributes"].get("workflow_stage") == "approved"
                and p["status"] != "Archived"][:3]
    for product in approved:
        world["plytix"].edit_product(product["id"], attributes={"launch_date": "2027-03-15"})
    for product in approved[:2]:
        world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    first = run_incremental_scan(deps)
    assert first.done["create"] == 4
    plans = [p for p in world["graph"].state.plans.values() if p["title"] == "Launch 2027-03"]
    assert len(plans) == 1 and plans[0]["container"]["containerId"] == GROUP_ID
    world["plytix"].edit_product(approved[2]["id"], attributes={"workflow_stage": "ready_for_syndication"})
    creates_before = world["graph"].app.faults.calls["graph.create_plan"]
    second = run_incremental_scan(deps)
    assert second.done["create"] == 2
    assert world["graph"].app.faults.calls["graph.create_plan"] == creates_before == 1
    assert len(world["graph"].plan_tasks(plans[0]["id"])) == 6


def test_only_products_created_after_the_rule_was_enabled_start_a_launch(events_world):
    world, deps = events_world, events_world["deps"]
    baseline = run_full_scan(deps)  # 200 existing products: no flood
    assert baseline.findings == 0
    product = deps.plytix.create_product("NEW-LAUNCH-1", label="Brand new")
    created = run_incremental_scan(deps)
    assert created.done["create"] == 2
    assert {t["title"] for t in tasks(world, "Launch")} == {"Launch: NEW-LAUNCH-1 [Copy review]",
                                                           "Launch: NEW-LAUNCH-1 [Image approval]"}
    assert product["id"]


def test_a_dry_run_plans_event_tasks_and_writes_nothing(events_world):
    world, deps = events_world, events_world["deps"]
    run_full_scan(deps)
    product = product_in(world, "approved")
    world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    preview = run_full_scan(deps, dry_run=True)
    assert [a.kind.value for a in preview.planned] == ["create", "create"]
    assert tasks(world, "Launch") == []
    assert deps.stores.snapshots.get(product["id"]).values["workflow_stage"]["v"] == "approved"
    assert run_incremental_scan(deps).done["create"] == 2


def test_a_deleted_product_closes_its_open_launch_set_on_the_next_full_sweep(events_world):
    world, deps = events_world, events_world["deps"]
    run_full_scan(deps)
    product = product_in(world, "approved")
    world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    assert run_incremental_scan(deps).done["create"] == 2
    world["plytix"].delete_product(product["id"])
    sweep = run_full_scan(deps)
    assert sweep.done["close"] == 2
    assert all(t["percentComplete"] == 100 and "deleted in Plytix" in t["details"]["description"]
               for t in tasks(world, "Launch"))


def test_a_review_of_long_html_shows_text_a_cut_note_and_a_unified_diff(events_world):
    world, deps = events_world, events_world["deps"]
    run_full_scan(deps)
    product = product_in(world, "enrichment")
    sentences = [f"Sentence {i} about the product." for i in range(40)]
    world["plytix"].edit_product(product["id"], attributes={"description_html": "<p>" + " ".join(sentences) + "</p>"})
    run_incremental_scan(deps)  # a first review (old value: whatever was there)
    [first] = tasks(world, "Review regulated change")
    world["graph"].complete_task(first["id"], by="content.editor@contoso.example")  # reviewed
    run_incremental_scan(deps)
    sentences[3] = "Sentence 3 now makes a regulated claim."
    world["plytix"].edit_product(product["id"], attributes={"description_html": "<p>" + " ".join(sentences) + "</p>"})
    report = run_incremental_scan(deps)
    assert report.done["create"] == 1  # the first review was completed: this change is a new review
    second = next(t for t in tasks(world, "Review regulated change") if t["id"] != first["id"])
    text = second["details"]["description"]
    assert "<p>" not in text and "Sentence 0 about the product." in text
    assert "[… cut: 300 of" in text  # max_value_chars: 300
    diff = text[text.index("--- approved"):].splitlines()
    assert diff[1] == "+++ new" and diff[2].startswith("@@")
    assert any(line.startswith("+") and "regulated" in line for line in diff)
    assert any(line.startswith("-") and "about" in line and "+++" not in line for line in diff[2:])


HOLD_AUDIT = """\
  - id: hold-audit
    type: review_on_change
    name: Hold audit
    bucket: Review
    watch: [review_status]
"""


def test_a_completed_review_is_approved_by_job_4_and_neither_hold_write_echoes_as_a_change(events_world):
    """The review hold's `pending` (our write) and job 4's `approved` on completion (its write-back,
    recorded in its echo log) are no changes, even for a rule watching that attribute; a person's edit is."""
    from shared.completion_watcher import WatcherDeps, run_watcher

    world = events_world
    world["rules"].write_text(EVENT_RULES + HOLD_AUDIT)
    deps = build_deps(world["deps"].settings, stores=world["deps"].stores)
    run_full_scan(deps)
    product = product_in(world, "enrichment", family="any")
    world["plytix"].edit_product(product["id"], attributes={"safety_warning": "New wording."})
    assert run_incremental_scan(deps).done["create"] == 1
    assert world["plytix"].product(product["id"])["attributes"]["review_status"] == "pending"
    held = run_incremental_scan(deps)  # reads the product again: its `modified` moved with our write
    assert held.products_seen >= 1 and held.findings == 0 and held.events["echoes"] == 1

    [task] = tasks(world, "Review regulated change")
    world["graph"].complete_task(task["id"], by="compliance.officer@contoso.example")
    watched = run_watcher(WatcherDeps(settings=deps.settings, rules_file=deps.rules_file, plytix=deps.plytix,
                                      planner=deps.planner, stores=deps.stores, sleep=lambda seconds: None))
    assert watched.writebacks == {"done": 1}
    assert world["plytix"].product(product["id"])["attributes"]["review_status"] == "approved"
    approved = run_incremental_scan(deps)
    assert approved.products_seen >= 1 and approved.findings == 0 and approved.events["echoes"] == 1
    assert tasks(world, "Hold audit") == []

    world["plytix"].edit_product(product["id"], attributes={"review_status": "pending"})  # a person
    assert run_incremental_scan(deps).done["create"] == 1
    assert len(tasks(world, "Hold audit")) == 1


def test_many_launches_at_once_are_grouped_per_task_of_the_set(events_world):
    from tests.scan_world import with_settings

    world = events_world
    deps = with_settings(world["deps"], GROUP_THRESHOLD=2)
    run_full_scan(deps)
    by_family: dict[str, list[dict]] = {}
    for p in world["plytix"].products():
        if p["attributes"].get("workflow_stage") == "approved" and p["status"] != "Archived":
            by_family.setdefault(p["product_family_id"], []).append(p)
    products = next(group for group in by_family.values() if len(group) >= 3)[:3]
    for product in products:
        world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    report = run_incremental_scan(deps)
    assert report.done["create"] == 2  # one grouped task per task of the set, not 6 tasks
    titles = sorted(t["title"] for t in tasks(world, "Launch"))
    assert [t.split(":")[0] for t in titles] == ["Launch [Copy review]", "Launch [Image approval]"]
    assert all("Complete this task when every product listed" in t["details"]["description"]
               for t in tasks(world, "Launch"))
    assert run_incremental_scan(deps).done == Counter()


def test_a_grouped_launch_lets_go_of_a_product_that_left_backwards_and_closes_when_all_did(events_world):
    """on_leave: close for grouped sets: the product is ticked off with the rule's note; the grouped task
    closes, with a note, when its last product left; a set left behind is not started again."""
    from tests.scan_world import with_settings

    world = events_world
    deps = with_settings(world["deps"], GROUP_THRESHOLD=1)
    run_full_scan(deps)
    by_family: dict[str, list[dict]] = {}
    for p in world["plytix"].products():
        if p["attributes"].get("workflow_stage") == "approved" and p["status"] != "Archived":
            by_family.setdefault(p["product_family_id"], []).append(p)
    first, second = next(group for group in by_family.values() if len(group) >= 2)[:2]
    for product in (first, second):
        world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    assert run_incremental_scan(deps).done["create"] == 2  # one grouped task per task of the set

    world["plytix"].edit_product(first["id"], attributes={"workflow_stage": "approved"})
    report = run_incremental_scan(deps)
    assert report.done == Counter({"update": 2})
    for task in tasks(world, "Launch"):
        assert task["percentComplete"] == 0
        ticked = {item["title"]: item["isChecked"] for item in task["details"]["checklist"].values()}
        assert ticked == {first["sku"]: True, second["sku"]: False}
        assert (f"- {first['sku']}: the product left the launch stage (ready_for_syndication -> approved)"
                in task["details"]["description"])

    world["plytix"].edit_product(first["id"], attributes={"workflow_stage": "ready_for_syndication"})
    assert run_incremental_scan(deps).done == Counter()  # that launch occurrence was handled

    world["plytix"].edit_product(second["id"], attributes={"workflow_stage": "enrichment"})
    assert run_incremental_scan(deps).done == Counter({"close": 2})
    for task in tasks(world, "Launch"):
        assert task["percentComplete"] == 100
        assert "every product of this group was let go" in task["details"]["description"]


def test_the_creation_cap_defers_part_of_a_set_and_the_next_pass_finishes_it(events_world):
    from tests.scan_world import with_settings

    world = events_world
    deps = with_settings(world["deps"], MAX_TASKS_PER_RUN=1)
    run_full_scan(deps)
    product = product_in(world, "approved")
    world["plytix"].edit_product(product["id"], attributes={"workflow_stage": "ready_for_syndication"})
    capped = run_incremental_scan(deps)
    assert capped.done["create"] == 1 and capped.skipped["defer"] == 1
    assert deps.stores.snapshots.get(product["id"]).values["workflow_stage"]["v"] == "approved"  # not moved
    finished = run_incremental_scan(deps)  # the product is on the retry list: the event replays
    assert finished.done["create"] == 1
    assert len(tasks(world, "Launch")) == 2
    assert deps.stores.snapshots.get(product["id"]).values["workflow_stage"]["v"] == "ready_for_syndication"
