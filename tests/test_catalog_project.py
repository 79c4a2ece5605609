"""Job 7 (`catalog_project`) end to end: the Plytix and Graph stand-ins over real HTTP, Azurite for links,
members and progress, the real scan.

Proves: a project from the rules file makes one bucket per milestone and one task per product group, with
the group's products on a checklist (a summary beyond Planner's 20); progress moves when a person ticks
and completes tasks in the sandbox Planner and reaches Plytix exactly once; products that start matching
join, those that stop are removed with a note; a late milestone's tasks get the late label and the summary
flags it; a project's own plan is created once in its Microsoft 365 group; rules-file mistakes name the
line and field."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from sandbox.graph_state import CATALOG_PLAN_ID, GROUP_ID
from shared.projects.summary import project_rules, summarize
from shared.reconcile.content import checklist_key
from shared.rules import RulesError, parse_rules
from shared.scan import ScanDeps, run_full_scan
from shared.store import LinkState
from shared.writeback import EchoLog
from tests.scan_world import build_deps, world_settings

PERSON = "merch.lead@contoso.example"
HEAD = f"""\
version: 1
defaults:
  owner: {PERSON}
rules:
"""
SPRING = f"""\
  - id: spring
    type: catalog_project
    name: Spring refresh
    plan_id: {CATALOG_PLAN_ID}
    select: {{categories: [Home]}}
    milestones:
      - {{id: copy, name: Copy refreshed, due: 2099-02-01}}
      - {{id: images, name: Images reshot, due: 2020-03-01}}
    progress: {{stage_attribute: project_stage, status_attribute: project_status}}
"""
APPAREL = f"""\
  - id: apparel
    type: catalog_project
    name: Apparel audit
    plan_id: {CATALOG_PLAN_ID}
    select: {{categories: [Apparel]}}
    category_depth: 1
    milestones:
      - {{id: audit, name: Audited, due: 2099-01-01, bucket: Audit}}
"""
SELECTED = ("Draft", "Completed")


@pytest.fixture
def project(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str,
            tmp_path: Path) -> Iterator[Any]:
    """`project(rules)` writes a rules file and returns ScanDeps built as production builds them."""
    built: list[ScanDeps] = []

    def make(rules_text: str) -> ScanDeps:
        rules = tmp_path / "rules.yaml"
        rules.write_text(HEAD + rules_text)
        settings = world_settings(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules,
                                  INCREMENTAL_OVERLAP_SECONDS=0)
        deps = build_deps(settings, stores=built[0].stores if built else None)
        built.append(deps)
        return deps

    make.plytix = plytix_sandbox.sandbox  # type: ignore[attr-defined]
    make.graph = graph_sandbox.sandbox  # type: ignore[attr-defined]
    yield make
    for deps in built:
        deps.plytix.close()
        deps.planner.close()


def home_groups(sandbox: Any) -> dict[str, set[str]]:
    """Selected Home products by their first category path, from the Plytix stand-in's own records."""
    groups: dict[str, set[str]] = {}
    for product in sandbox.products():
        paths = sorted("/".join(sandbox.catalog.categories[c].path) for c in product.get("categories") or [])
        if product["status"] in SELECTED and paths and paths[0].split("/")[0] == "Home":
            groups.setdefault(paths[0], set()).add(product["sku"])
    return groups


def tasks_of(project: Any, prefix: str, plan_id: str = CATALOG_PLAN_ID) -> dict[str, dict]:
    return {t["title"]: t for t in project.graph.plan_tasks(plan_id) if t["title"].startswith(prefix)}


def bucket_names(project: Any, plan_id: str = CATALOG_PLAN_ID) -> dict[str, str]:
    with project.graph.app.lock:
        return {b["id"]: b["name"] for b in project.graph.state.plan_buckets(plan_id)}


def checklist(task: dict) -> dict[str, bool]:
    return {item["title"]: item["isChecked"] for item in task["details"]["checklist"].values()}


def api_writes(project: Any, product_id: str, attribute: str) -> list[dict]:
    return [h for h in project.plytix.history(product_id) if h["by"] == "api" and attribute in h["changes"]]


def test_a_project_makes_a_bucket_per_milestone_and_a_task_per_group(project) -> None:
    deps = project(SPRING + APPAREL)
    report = run_full_scan(deps)
    assert not report.errors
    groups = home_groups(project.plytix)
    assert len(groups) >= 2
    spring = tasks_of(project, "Spring refresh:")
    assert set(spring) == {f"Spring refresh: {m}: {g}" for m in ("Copy refreshed", "Images reshot") for g in groups}
    buckets = bucket_names(project)
    for group, skus in groups.items():
        copy = spring[f"Spring refresh: Copy refreshed: {group}"]
        assert buckets[copy["bucketId"]] == "Copy refreshed"
        assert buckets[spring[f"Spring refresh: Images reshot: {group}"]["bucketId"]] == "Images reshot"
        assert checklist(copy) == dict.fromkeys(skus, False), "the group's products, one checklist item each"
        assert copy["dueDateTime"].startswith("2099-02-01")
        assert copy["assignments"], "the owner is assigned"
    # A group beyond Planner's 20 checklist items: a summary in the description, no checklist.
    (apparel,) = tasks_of(project, "Apparel audit:").values()
    assert apparel["title"] == "Apparel audit: Audited: Apparel"
    assert buckets[apparel["bucketId"]] == "Audit"
    assert apparel["details"]["checklist"] == {}
    assert "more than a Planner checklist holds (20)" in apparel["details"]["description"]
    assert apparel["details"]["description"].count("https://app.plytix.example/products/") > 20
    # A second pass changes nothing.
    again = run_full_scan(deps)
    assert again.done.get("create", 0) == 0 and again.done.get("update", 0) == 0


def test_progress_moves_with_ticks_and_completions_and_reaches_plytix_once(project) -> None:
    deps = project(SPRING)
    run_full_scan(deps)
    links = {link.data["subject"]: link for link in deps.stores.links.list_rule("spring")}
    group = sorted(home_groups(project.plytix))[0]
    copy, images = links[f"project:copy:category:{group}"], links[f"project:images:category:{group}"]
    members = sorted(copy.data["products"].items(), key=lambda item: item[1])
    (ticked_id, _), (other_id, _) = members[0], members[1]
    # A person ticks one product in "Copy refreshed" and completes the group's "Images reshot" task.
    project.graph.tick_checklist_item(copy.task_id, checklist_key(copy.fingerprint, ticked_id))
    project.graph.complete_task(images.task_id, PERSON)

    report = run_full_scan(deps)
    assert not report.errors
    product = project.plytix.product(ticked_id)["attributes"]
    assert (product["project_stage"], product["project_status"]) == ("Images reshot", "Done")
    assert not api_writes(project, other_id, "attributes.project_stage"), "copy not done: nothing to write"
    # Our own write is on record, so the change feed takes the `modified` it caused for an echo.
    echoes = EchoLog(deps.stores.table("echoes"))
    (echo,) = echoes.written(ticked_id)
    assert echo.values["attributes"] == {"project_stage": "Images reshot", "project_status": "Done"}
    assert echoes.is_own_write(ticked_id, project.plytix.product(ticked_id)["modified"])
    assert deps.stores.links.get("spring", images.fingerprint).state is LinkState.completed

    rule = project_rules(deps.rules)[0]
    summary = summarize(rule, deps.stores, datetime.now(timezone.utc).date(), lambda p: f"plytix/{p}",
                        lambda plan, task: f"planner/{plan}/{task}")
    by_id = {m.id: m for m in summary.milestones}
    copy_group = next(g for g in by_id["copy"].groups if g.group == f"category:{group}")
    assert (copy_group.done, copy_group.products) == (1, len(members))
    assert copy_group.task_url == f"planner/{CATALOG_PLAN_ID}/{copy.task_id}"
    images_group = next(g for g in by_id["images"].groups if g.group == f"category:{group}")
    assert images_group.completed and not images_group.late and images_group.percent == 100.0
    assert by_id["copy"].done == 1

    # More passes (and the same completion seen again) write nothing more: exactly once.
    run_full_scan(deps)
    run_full_scan(project(SPRING))
    assert len(api_writes(project, ticked_id, "attributes.project_stage")) == 1
    assert len(api_writes(project, ticked_id, "attributes.project_status")) == 1
    rows = list(deps.stores.table("writebacks").query(None))
    assert Counter(row["product_id"] for row in rows) == {ticked_id: 1}


def test_a_late_milestone_gets_the_late_label_and_is_flagged(project) -> None:
    deps = project(SPRING)
    run_full_scan(deps)  # creates the tasks (the pass's listing predates them)
    report = run_full_scan(deps)  # reads them: "Images reshot" was due 2020-03-01
    assert not report.errors
    spring = tasks_of(project, "Spring refresh:")
    for title, task in spring.items():
        late = title.startswith("Spring refresh: Images reshot")
        assert task["appliedCategories"].get("category1", False) is late, title
    rule = project_rules(deps.rules)[0]
    summary = summarize(rule, deps.stores, datetime.now(timezone.utc).date(), str, lambda plan, task: task)
    assert [m.id for m in summary.late_milestones] == ["images"]
    assert summary.to_json(detail=False)["late_milestones"] == ["images"]
    labelled = deps.planner.stats.calls["update_task"]
    run_full_scan(deps)  # labelled already: no further task PATCH
    assert deps.planner.stats.calls["update_task"] == labelled


def test_products_join_and_leave_the_project(project) -> None:
    deps = project(SPRING)
    groups = home_groups(project.plytix)
    group = sorted(groups)[0]
    by_sku = {p["sku"]: p for p in project.plytix.products()}
    leaving = by_sku[sorted(groups[group])[0]]
    project.plytix.edit_product(leaving["id"], status="Archived")  # not selected while archived
    run_full_scan(deps)
    title = f"Spring refresh: Copy refreshed: {group}"
    assert leaving["sku"] not in checklist(tasks_of(project, title)[title])

    project.plytix.edit_product(leaving["id"], status="Draft")  # starts matching: joins
    run_full_scan(deps)
    assert checklist(tasks_of(project, title)[title])[leaving["sku"]] is False

    staying = sorted(groups[group])[1]
    project.plytix.edit_product(by_sku[staying]["id"], status="Archived")  # leaves: removed with a note
    run_full_scan(deps)
    task = tasks_of(project, title)[title]
    assert staying not in checklist(task)
    assert f"Removed from the project (no longer selected): {staying}" in task["details"]["description"]


def test_a_project_plan_is_created_once_in_its_group(project) -> None:
    own = SPRING.replace(f"    plan_id: {CATALOG_PLAN_ID}\n", f"    plan: {{group_id: {GROUP_ID}, title: Spring 2027}}\n")
    deps = project(own)
    run_full_scan(deps)
    plans = [p for p in project.graph.state.group_plans(GROUP_ID) if p["title"] == "Spring 2027"]
    assert len(plans) == 1
    assert len(tasks_of(project, "Spring refresh:", plans[0]["id"])) == 2 * len(home_groups(project.plytix))
    run_full_scan(project(own))
    assert len([p for p in project.graph.state.group_plans(GROUP_ID) if p["title"] == "Spring 2027"]) == 1


@pytest.mark.parametrize(("rule", "line", "message"), [
    ("milestones: []", 9, "at least 1 item"),
    ("milestones:\n      - {id: a, name: A, due: 2027-01-01}\n      - {id: a, name: B, due: 2027-02-01}", 11,
     "duplicate milestone id 'a'"),
    ("milestones:\n      - {id: a, name: A, due: not-a-date}", 10, "date"),
    ("late_label: red\n    milestones:\n      - {id: a, name: A, due: 2027-01-01}", 9, "category"),
])
def test_rules_file_mistakes_name_line_and_field(rule: str, line: int, message: str) -> None:
    text = (HEAD + "  - id: p\n    type: catalog_project\n    name: P\n"
            f"    plan_id: {CATALOG_PLAN_ID}\n    {rule}\n")
    with pytest.raises(RulesError) as raised:
        parse_rules(text, "rules.yaml")
    assert f"rules.yaml:{line}" in str(raised.value) and message in str(raised.value)


def test_a_project_needs_a_plan() -> None:
    text = HEAD + "  - id: p\n    type: catalog_project\n    name: P\n    milestones:\n      - {id: a, name: A, due: 2027-01-01}\n"
    with pytest.raises(RulesError, match="set plan_id .* or plan"):
        parse_rules(text, "rules.yaml")
