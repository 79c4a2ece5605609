"""A full sweep in windows of `created` (shared/sweep.py), against the stand-ins and Azurite: it reads every
product once, makes the same tasks as the one-invocation sweep, stops at its time budget and resumes, and
a sweep killed in a window resumes at that window: committed windows are not read again and no product is
missed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from shared.reconcile.execute import Crash
from shared.scan import SWEEP_WINDOW_MODE, run_full_scan
from shared.store import LinkState
from shared.sweep import SWEEP_CURSOR, run_sweep
from tests.scan_world import RULE_ID, with_settings
from tests.test_scan import assert_no_duplicates, our_tasks

TARGET = 40  # products per window: the 200 seeded products take five or more windows


def segmented(world: dict, **settings: Any) -> Any:
    return with_settings(world["deps"], SWEEP_SEGMENT_PRODUCTS=TARGET, **settings)


def test_a_segmented_sweep_reads_every_product_once_and_makes_the_tasks_a_full_sweep_makes(world) -> None:
    deps = segmented(world)
    expected = run_full_scan(deps, dry_run=True).findings
    report = run_sweep(deps, start=True, budget_seconds=3600)
    assert report is not None and report.finished and not report.errors
    windows = [s for s in report.segments if s.mode == SWEEP_WINDOW_MODE]
    assert len(windows) >= 5
    assert sum(s.products_seen for s in windows) == len(world["plytix"].sandbox.products())
    assert max(s.products_seen for s in windows) <= 2 * TARGET, "a window holding more is halved first"
    assert len(our_tasks(world)) == expected
    assert_no_duplicates(world)
    cursor = deps.stores.cursors.get(SWEEP_CURSOR)
    assert cursor is not None and cursor.value["done"] is True
    assert deps.stores.cursors.get("feed-watermark") is not None, "the incremental pass takes over from its start"
    # Nothing to continue; a new sweep changes nothing.
    assert run_sweep(deps, start=False, budget_seconds=3600) is None
    again = run_sweep(deps, start=True, budget_seconds=3600)
    assert again is not None and again.finished and sum(sum(s.done.values()) for s in again.segments) == 0


def test_a_sweep_stops_at_its_budget_and_later_invocations_continue_it(world) -> None:
    deps = segmented(world)

    def clock() -> Any:
        ticks = iter(range(0, 10_000, 100))  # each look at the clock is 100 s later
        return lambda: float(next(ticks))

    invocations = [run_sweep(deps, start=True, budget_seconds=150, monotonic=clock())]
    while not invocations[-1].finished and len(invocations) < 60:
        invocations.append(run_sweep(deps, start=False, budget_seconds=150, monotonic=clock()))
    assert invocations[-1].finished and len(invocations) >= 6
    assert all(len(report.segments) <= 1 for report in invocations), "one step per 150 s budget"
    assert sum(report.products for report in invocations if report) == len(world["plytix"].sandbox.products())
    assert_no_duplicates(world)


def test_a_sweep_killed_in_a_window_resumes_there_without_rereading_or_missing_products(world) -> None:
    deps = segmented(world)
    expected = run_full_scan(deps, dry_run=True).findings
    committed: dict[str, int] = {}

    def die_in_the_third_window(step: str) -> None:
        state = deps.stores.cursors.get(SWEEP_CURSOR).value
        if step == "created" and state["segments"] >= 2:
            committed.update(segments=state["segments"], products=state["products"])
            raise Crash(step)  # the process dies with a task created and its link not yet committed

    with pytest.raises(Crash):
        run_sweep(deps, start=True, budget_seconds=3600, checkpoint=die_in_the_third_window)
    assert committed["segments"] >= 2
    resumed = run_sweep(deps, start=False, budget_seconds=3600)
    assert resumed is not None and resumed.finished
    windows = [s for s in resumed.segments if s.mode == SWEEP_WINDOW_MODE]
    total = len(world["plytix"].sandbox.products())
    assert sum(s.products_seen for s in windows) == total - committed["products"], \
        "committed windows are not read again, and every other product is"
    assert len(our_tasks(world)) == expected, "the task created before the crash was adopted, not duplicated"
    assert_no_duplicates(world)
    states = Counter(link.state for link in deps.stores.links.list_rule(RULE_ID))
    assert states == {LinkState.open: expected}


def test_a_product_deleted_during_a_sweep_has_its_task_closed_by_the_final_step(world) -> None:
    deps = segmented(world)
    run_full_scan(deps)
    link = next(link for link in deps.stores.links.list_rule(RULE_ID) if link.state is LinkState.open)
    world["plytix"].sandbox.delete_product(link.product_id)
    report = run_sweep(deps, start=True, budget_seconds=3600)
    assert report is not None and report.finished
    assert deps.stores.links.get(RULE_ID, link.fingerprint).state is LinkState.closed
    assert report.segments[-1].mode == "sweep-final" and report.segments[-1].done.get("close") == 1


def test_the_timers_run_a_segmented_sweep_through_the_function_host(plytix_sandbox, graph_sandbox, azurite,
                                                                    table_prefix, tmp_path) -> None:
    """The `full_sweep` timer function, run now through the local host's admin endpoint (its own process,
    configured only through app settings), sweeps the catalog in windows to the end. (Continuing an
    unfinished sweep from `incremental_pass` is the same call with start=False, tested above: the
    smallest budget the settings allow, 10 s, sweeps these 200 products in one go.)"""
    import time

    import httpx

    from shared.store import TableStores
    from tests.devhost_process import running_devhost
    from tests.scan_world import RULES_YAML, devhost_env
    from tests.test_function_app import HOST_SETTINGS, KEY

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    env = devhost_env(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules, **HOST_SETTINGS,
                      DEVHOST_FUNCTION_KEY=KEY, SWEEP_SEGMENT_PRODUCTS=str(TARGET), SWEEP_BUDGET_SECONDS="10")
    stores = TableStores.from_connection_string(azurite, table_prefix)
    try:
        with running_devhost(env, tmp_path) as host:
            admin = host.base.removesuffix("/api") + "/admin/functions"
            assert httpx.post(f"{admin}/full_sweep", params={"code": KEY}, json={"input": ""},
                              timeout=30).status_code == 202
            deadline = time.monotonic() + 90
            while (cursor := stores.cursors.get(SWEEP_CURSOR)) is None or not cursor.value["done"]:
                assert time.monotonic() < deadline, "the full_sweep timer did not finish the sweep"
                time.sleep(0.1)
        assert cursor.value["done"] and cursor.value["products"] == len(plytix_sandbox.sandbox.products())
        titles = Counter(t["title"] for t in graph_sandbox.sandbox.plan_tasks(
            next(iter(stores.links.list_rule(RULE_ID))).plan_id))
        assert titles and max(titles.values()) == 1
    finally:
        stores.close()


def test_with_skip_backfill_every_window_of_the_first_sweep_is_backfill(world) -> None:
    """A rule's first pass is the whole first sweep, not its first window: no window creates a task for a
    gap that was there when the rule was enabled, and the rule counts as seen only after the final step."""
    deps = segmented(world, SKIP_BACKFILL=True)
    expected = run_full_scan(deps, dry_run=True).findings
    report = run_sweep(deps, start=True, budget_seconds=3600)
    assert report is not None and report.finished
    assert len([s for s in report.segments if s.mode == SWEEP_WINDOW_MODE]) >= 5
    assert our_tasks(world) == []
    states = Counter(link.state for link in deps.stores.links.list_rule(RULE_ID))
    assert states == {LinkState.suppressed: expected}
    assert deps.stores.cursors.get(f"rule-seen-{RULE_ID}") is not None


def test_a_sweep_killed_after_a_window_read_but_before_it_was_committed_redoes_that_window(world) -> None:
    deps = segmented(world)
    store = deps.stores.cursors
    save = store.save
    died: dict[str, int] = {}

    def save_then_die(cursor: Any) -> Any:
        if cursor.name == SWEEP_CURSOR and cursor.value.get("segments") == 2 and not died:
            died.update(products=store.get(SWEEP_CURSOR).value["products"])
            raise Crash("committing the second window")  # its products were read and reconciled
        return save(cursor)

    store.save = save_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run_sweep(deps, start=True, budget_seconds=3600)
    store.save = save  # type: ignore[method-assign]
    resumed = run_sweep(deps, start=False, budget_seconds=3600)
    assert resumed is not None and resumed.finished
    windows = [s for s in resumed.segments if s.mode == SWEEP_WINDOW_MODE]
    assert sum(s.products_seen for s in windows) == len(world["plytix"].sandbox.products()) - died["products"]
    assert_no_duplicates(world)
    assert store.get(SWEEP_CURSOR).value["done"] is True


def test_the_timers_refuse_an_invalid_rules_file_with_its_problems_not_a_traceback(
        plytix_sandbox, graph_sandbox, azurite, table_prefix, tmp_path) -> None:
    """Both sweep timers load the rules inside their guard: a broken file is one logged refusal naming
    file, line and field, and nothing is read or written."""
    import time

    import httpx

    from tests.devhost_process import running_devhost
    from tests.scan_world import RULES_YAML, devhost_env
    from tests.test_function_app import HOST_SETTINGS, KEY

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML.replace("version: 1", "version: 1\nunknown_key: 1"))
    env = devhost_env(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules, **HOST_SETTINGS,
                      DEVHOST_FUNCTION_KEY=KEY, SWEEP_SEGMENT_PRODUCTS=str(TARGET))
    with running_devhost(env, tmp_path) as host:
        admin = host.base.removesuffix("/api") + "/admin/functions"
        searches = plytix_sandbox.app.faults.calls.get("plytix.search", 0)  # the host's start-up health probe
        for name in ("full_sweep", "incremental_pass"):
            assert httpx.post(f"{admin}/{name}", params={"code": KEY}, json={"input": ""},
                              timeout=30).status_code == 202
            deadline = time.monotonic() + 30
            while f"{name.replace('_', ' ')} refused to start" not in host.output():
                assert time.monotonic() < deadline, f"{name} did not refuse the rules file"
                time.sleep(0.1)
        output = host.output()
    assert "Traceback" not in output and "unknown_key" in output
    assert plytix_sandbox.app.faults.calls.get("plytix.search", 0) == searches, "nothing was read"
