"""Job 1 end to end: the full sweep against the Plytix and Graph stand-ins (real HTTP) and Azurite.

Proves the DESIGN.md promises: no duplicate task when a scan runs twice, two scans run at once, a crash
hits any step between claim and commit, or Graph/Plytix misbehave; fixed products get their tasks ticked
and closed; a dry run writes nothing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from shared.reconcile.execute import Crash
from shared.rules import parse_rules
from shared.scan import ScanDeps, run_full_scan, run_incremental_scan
from shared.store import LinkState
from tests.scan_world import RULE_ID, RULES_YAML, build_deps, with_settings


def plan_tasks(world: dict) -> list[dict]:
    return world["graph"].sandbox.plan_tasks(PRODUCT_DATA_PLAN_ID)


def our_tasks(world: dict) -> list[dict]:
    return [t for t in plan_tasks(world) if t["title"].startswith("Complete core content")]


def assert_no_duplicates(world: dict) -> None:
    titles = Counter(t["title"] for t in our_tasks(world))
    assert [t for t, n in titles.items() if n > 1] == []


def links_by_state(deps: ScanDeps) -> Counter:
    return Counter(link.state.value for link in deps.stores.links.list_rule(RULE_ID))


def test_first_scan_creates_a_task_per_finding_and_a_second_scan_changes_nothing(world):
    deps = world["deps"]
    first = run_full_scan(deps)
    assert first.products_seen == 200
    assert first.findings > 0
    assert first.done["create"] == first.findings
    tasks = our_tasks(world)
    assert len(tasks) == first.findings
    assert_no_duplicates(world)
    sample = tasks[0]
    assert sample["details"]["checklist"], "missing attributes are listed as checklist items"
    assert "plytix-planner-sync ref:" in sample["details"]["description"]
    assert any("app.plytix.example/products/" in ref for ref in _reference_urls(sample))
    assert sample["assignments"], "the owner is assigned"

    graph_calls = deps.planner.stats.total_calls
    second = run_full_scan(deps)
    assert second.done == Counter() and second.skipped == Counter()
    assert len(our_tasks(world)) == first.findings
    # The second pass reads the plan once and writes nothing to Graph.
    assert deps.planner.stats.total_calls - graph_calls <= 2


def _reference_urls(task: dict) -> list[str]:
    from urllib.parse import unquote

    return [unquote(key) for key in (task["details"].get("references") or {})]


def test_fixing_a_product_ticks_then_closes_its_task(world):
    deps, sandbox = world["deps"], world["plytix"].sandbox
    run_full_scan(deps)
    link = next(lnk for lnk in deps.stores.links.list_rule(RULE_ID) if len(lnk.data["missing"]) >= 2)
    missing = link.data["missing"]

    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, missing[:1]))
    partial = run_full_scan(deps)
    assert partial.done["update"] == 1
    task = next(t for t in our_tasks(world) if t["id"] == link.task_id)
    ticked = [item for item in task["details"]["checklist"].values() if item["isChecked"]]
    assert len(ticked) == 1 and task["percentComplete"] == 0

    sandbox.edit_product(link.product_id, attributes=_fill(sandbox, missing))
    fixed = run_full_scan(deps)
    assert fixed.done["close"] == 1
    task = next(t for t in our_tasks(world) if t["id"] == link.task_id)
    assert task["percentComplete"] == 100
    assert "Closed automatically" in task["details"]["description"]
    assert all(item["isChecked"] for item in task["details"]["checklist"].values())
    assert deps.stores.links.get(RULE_ID, link.fingerprint).state is LinkState.closed
    history = [e.action for e in deps.stores.audit.for_product(link.product_id)]
    assert history == ["create", "update", "close"]


def _fill(sandbox: Any, requirement_keys: list[str]) -> dict[str, Any]:
    """Values a person would enter for these requirements (images link an existing asset)."""
    values: dict[str, Any] = {}
    for key in requirement_keys:
        attribute = key.split(">=")[0]
        if attribute == "images":
            values["images"] = [{"id": next(iter(sandbox.catalog.assets))}]
        else:
            values[attribute] = f"Filled {attribute}"
    return values


def test_dry_run_plans_everything_and_writes_nothing(world):
    deps = world["deps"]
    report = run_full_scan(deps, dry_run=True)
    planned = report.to_json()
    assert planned["planned"] == {"create": report.findings}
    assert all(a["reason"].startswith("missing: ") for a in planned["actions"])
    assert our_tasks(world) == []
    assert list(deps.stores.links.list_all()) == []
    assert report.done == Counter()


def test_two_scans_at_once_create_each_task_once(world):
    # Two instances with the production claim timeout (a fresh claim is another worker's, not a crash).
    first = replace(world["deps"], claim_timeout=timedelta(minutes=5))
    second = build_deps(world["settings"], stores=first.stores)
    reports: list = []
    errors: list = []

    def scan(deps: ScanDeps) -> None:
        try:
            reports.append(run_full_scan(deps))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(d,)) for d in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    findings = reports[0].findings
    assert len(our_tasks(world)) == findings
    assert_no_duplicates(world)
    assert sum(r.done["create"] for r in reports) == findings


@pytest.mark.parametrize("step", ["claimed", "before_create", "created"])
def test_a_crash_between_claim_and_commit_is_recovered_without_duplicates(world, step):
    deps = world["deps"]
    crashed: list[str] = []

    def crash_once(at: str) -> None:
        if at == step and not crashed:
            crashed.append(at)
            raise Crash(at)

    with pytest.raises(Crash):
        run_full_scan(deps, checkpoint=crash_once)
    recovered = run_full_scan(deps)
    assert recovered.done["adopt"] == 1
    findings = recovered.findings
    assert len(our_tasks(world)) == findings
    assert_no_duplicates(world)
    assert links_by_state(deps) == Counter({"open": findings})
    assert run_full_scan(deps).done == Counter()


@pytest.mark.parametrize("fault", [{"kind": "drop"}, {"kind": "status", "status": 503, "act": True}],
                         ids=["answer dropped", "503 after acting"])
def test_a_lost_create_answer_is_adopted_not_duplicated(world, fault):
    deps, graph = world["deps"], world["graph"]
    httpx.post(f"{graph.url}/_sandbox/faults", json={"endpoint": "graph.create_task", **fault})
    first = run_full_scan(deps)
    assert first.skipped["create"] == 1  # the answer was lost: the claim stays pending
    second = run_full_scan(deps)
    assert second.done["adopt"] == 1
    assert len(our_tasks(world)) == first.findings
    assert_no_duplicates(world)
    adopted = [t for t in our_tasks(world) if not t["details"]["checklist"]]
    assert adopted == [], "the adopted task got its checklist written"


def test_graph_throttling_and_outage_storms_lose_and_duplicate_nothing(world):
    deps, graph = world["deps"], world["graph"]
    for endpoint, status in (("graph.create_task", 429), ("graph.create_task", 503),
                             ("graph.update_details", 429), ("graph.list_plan_tasks", 503)):
        httpx.post(f"{graph.url}/_sandbox/faults",
                   json={"endpoint": endpoint, "kind": "status", "status": status, "count": 3, "retry_after": 0})
    first = run_full_scan(deps)
    assert first.skipped["create"] == 6
    # A 429 proves Graph did nothing: those claims were given back. A 503 on a create may come after
    # Graph acted: those claims stay, and the next pass adopts (or creates) under them.
    assert links_by_state(deps)["pending"] == 3
    second = run_full_scan(deps)
    assert second.done["adopt"] == 3
    assert first.done["create"] + second.done["create"] + second.done["adopt"] == first.findings
    assert len(our_tasks(world)) == first.findings
    assert_no_duplicates(world)
    assert run_full_scan(deps).done == Counter()


def test_plytix_token_expiring_mid_scan_is_renewed(world):
    deps, plytix = world["deps"], world["plytix"]
    httpx.post(f"{plytix.url}/_sandbox/faults",
               json={"endpoint": "plytix.search", "kind": "status", "status": 401, "after": 1})
    report = run_full_scan(deps)
    assert report.products_seen == 200
    assert len(our_tasks(world)) == report.findings


def test_creation_cap_defers_the_rest_to_the_next_scan(world):
    deps = with_settings(world["deps"], MAX_TASKS_PER_RUN=3)
    first = run_full_scan(deps)
    assert first.findings > 6
    assert first.done["create"] == 3
    assert first.skipped["defer"] == first.findings - 3
    second = run_full_scan(deps)
    assert second.done["create"] == 3
    assert len(our_tasks(world)) == 6


def test_a_storm_in_one_family_becomes_one_grouped_task(world):
    deps = with_settings(world["deps"], GROUP_THRESHOLD=2)
    report = run_full_scan(deps)
    groups = [link for link in deps.stores.links.list_rule(RULE_ID) if link.data.get("kind") == "group"]
    assert groups, "families with more than 2 findings are grouped"
    grouped = sum(len(g.data["members"]) for g in groups)
    individual = report.done["create"] - len(groups)
    assert grouped + individual == report.findings
    assert len(our_tasks(world)) == report.done["create"]
    member_counts = [len(g.data["members"]) for g in groups]
    assert min(member_counts) > 2
    assert run_full_scan(deps).done == Counter()


def test_skip_backfill_records_existing_gaps_without_tasks(world):
    deps = with_settings(world["deps"], SKIP_BACKFILL=True)
    report = run_full_scan(deps)
    assert report.done["suppress"] == report.findings
    assert our_tasks(world) == []
    assert run_full_scan(deps).done == Counter()


def test_a_task_deleted_in_planner_is_not_recreated_during_the_cooldown(world):
    deps, graph = world["deps"], world["graph"].sandbox
    run_full_scan(deps)
    victim = our_tasks(world)[0]
    graph.delete_task(victim["id"])
    report = run_full_scan(deps)
    assert report.done["mark_deleted"] == 1
    assert run_full_scan(deps).done == Counter()
    assert victim["title"] not in {t["title"] for t in our_tasks(world)}
    no_cooldown = with_settings(deps, DELETED_TASK_COOLDOWN_DAYS=0)
    assert run_full_scan(no_cooldown).done["recreate"] == 1
    assert victim["title"] in {t["title"] for t in our_tasks(world)}


def test_a_task_completed_while_data_is_missing_is_reopened(world):
    deps, graph = world["deps"], world["graph"].sandbox
    run_full_scan(deps)
    task = our_tasks(world)[0]
    graph.complete_task(task["id"], by="content.editor@contoso.example")
    report = run_full_scan(deps)
    assert report.done["reopen"] == 1
    reopened = next(t for t in our_tasks(world) if t["id"] == task["id"])
    assert reopened["percentComplete"] == 0
    assert "Reopened automatically" in reopened["details"]["description"]


def test_the_incremental_pass_starts_with_a_full_sweep(world):
    report = run_incremental_scan(world["deps"])
    assert report.mode == "full" and report.products_seen == 200
    assert len(our_tasks(world)) == report.findings


def test_the_incremental_pass_reads_only_changed_products(world):
    deps, sandbox = world["deps"], world["plytix"].sandbox
    run_full_scan(deps)
    quiet = run_incremental_scan(deps)
    assert (quiet.mode, quiet.products_seen, quiet.done) == ("incremental", 0, Counter())
    assert quiet.api_calls == {"plytix": 1, "graph": 0}  # one search page (families are cached): nothing else

    fixed, untouched = list(deps.stores.links.list_rule(RULE_ID))[:2]
    sandbox.edit_product(fixed.product_id, attributes=_fill(sandbox, fixed.data["missing"]))
    report = run_incremental_scan(deps)
    assert (report.mode, report.products_seen) == ("incremental", 1)
    assert report.done == Counter({"close": 1})
    assert deps.stores.links.get(RULE_ID, fixed.fingerprint).state is LinkState.closed
    assert deps.stores.links.get(RULE_ID, untouched.fingerprint).state is LinkState.open


def test_a_changed_rules_file_makes_the_incremental_pass_a_full_sweep(world):
    deps = world["deps"]
    run_full_scan(deps)
    edited = parse_rules(RULES_YAML.replace("priority: important", "priority: urgent"), "rules.yaml")
    report = run_incremental_scan(replace(deps, rules_file=edited))
    assert report.mode == "full" and report.products_seen == 200


# --- bounded concurrency (GRAPH_CONCURRENCY) ------------------------------------------------------------

def test_concurrent_creates_under_injected_429s_make_no_duplicate(world) -> None:
    """Eight actions at once, and Graph throttles four creates and three detail writes on the way: every
    throttled create is given back (never repeated blindly) and made by the next pass; no task twice."""
    deps = with_settings(world["deps"], GRAPH_CONCURRENCY=8)
    faults = world["graph"].app.faults
    faults.add("graph.create_task", {"kind": "status", "status": 429, "count": 4, "after": 2, "retry_after": 0})
    faults.add("graph.update_details", {"kind": "status", "status": 429, "count": 3, "after": 5, "retry_after": 0})
    first = run_full_scan(deps)
    assert first.findings >= 6 and first.skipped["create"] == 4, "the throttled creates were not sent again"
    assert_no_duplicates(world)
    second = run_full_scan(deps)
    assert second.done["create"] == 4
    assert_no_duplicates(world)
    assert len(our_tasks(world)) == first.findings == links_by_state(deps)["open"]
    assert run_full_scan(deps).done == {}


def test_concurrency_overlaps_graph_calls_but_stays_bounded(world) -> None:
    """With 100 ms per Graph answer and four workers, Graph sees several requests at once during the
    pass's actions, and never more than four."""
    graph = world["graph"]

    class CountingLatency:
        """The stand-in's latency hook (sandbox/base.py), holding each answer 100 ms and counting how many
        are held at once."""

        def __init__(self) -> None:
            self.lock, self.now, self.peak = threading.Lock(), 0, 0

        def seconds(self) -> float:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            time.sleep(0.1)
            with self.lock:
                self.now -= 1
            return 0.0

    latency = CountingLatency()
    graph.app.latency = latency
    report = run_full_scan(with_settings(world["deps"], GRAPH_CONCURRENCY=4))
    assert report.done["create"] >= 8
    assert 2 <= latency.peak <= 4, latency.peak
    assert_no_duplicates(world)
