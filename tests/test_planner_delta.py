"""PLANNER_DELTA=beta: the completion watcher on Graph's beta delta query, against the Graph stand-in
(whose delta endpoint is written from Microsoft's docs: sandbox/graph.py), Azurite and the Plytix stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.completion_watcher import WatcherDeps, run_watcher
from shared.planner_delta import cursor_name
from shared.settings import PlannerDelta
from shared.store import LinkState
from shared.writeback import WritebackState
from tests.writeback_world import WritebackWorld, writeback_world


@pytest.fixture
def wb(world: dict, tmp_path: Path) -> WritebackWorld:
    return writeback_world(world, tmp_path)


def delta_watcher(wb: WritebackWorld) -> WatcherDeps:
    return wb.watcher(settings=wb.settings.model_copy(update={"PLANNER_DELTA": PlannerDelta.beta}))


def calls(wb: WritebackWorld, endpoint: str) -> int:
    return wb.graph.app.faults.calls[endpoint]


def test_a_completion_is_written_back_and_a_quiet_run_costs_one_call_per_plan(wb) -> None:
    link = wb.open_links()[0]
    listings = calls(wb, "graph.list_plan_tasks")  # the sweep that made the tasks listed the plan
    first = run_watcher(delta_watcher(wb))  # the first round reads the whole plan and keeps its deltaLink
    assert first.mode == "beta" and first.plans == 1
    assert "delta_fallback" not in first.seen  # the stand-in accepted the filter and select
    assert wb.scan.stores.cursors.get(cursor_name(link.plan_id)).value["delta_link"]
    assert calls(wb, "graph.list_plan_tasks") == listings

    wb.complete(link)
    before = calls(wb, "graph.get_task")
    second = run_watcher(delta_watcher(wb))
    assert second.seen["completed"] == 1 and second.writebacks == {"done": 1}
    assert calls(wb, "graph.get_task") == before + 1  # the completer is read once: the select lacks it
    assert wb.stage(link.product_id) == "ready_for_syndication"

    delta_before = calls(wb, "graph.delta")
    quiet = run_watcher(delta_watcher(wb))
    assert quiet.graph_calls == 1 and calls(wb, "graph.delta") == delta_before + 1
    assert quiet.seen == {} and quiet.writebacks == {}
    assert calls(wb, "graph.list_plan_tasks") == listings
    assert len(wb.stage_writes(link.product_id)) == 1


def test_a_reopened_or_deleted_task_seen_through_delta_moves_nothing_back(wb) -> None:
    done, gone = wb.open_links()[:2]
    wb.complete(done)
    run_watcher(delta_watcher(wb))
    assert wb.stage(done.product_id) == "ready_for_syndication"
    wb.graph.sandbox.reopen_task(done.task_id)
    wb.graph.sandbox.delete_task(gone.task_id)
    report = run_watcher(delta_watcher(wb))
    assert (report.seen["reopened"], report.seen["deleted"]) == (1, 1)
    assert wb.link(done.fingerprint).state is LinkState.open
    assert wb.link(gone.fingerprint).state is LinkState.deleted
    assert wb.stage(done.product_id) == "ready_for_syndication" and len(wb.stage_writes(done.product_id)) == 1


def test_a_gone_delta_link_410_starts_a_full_round_again(wb) -> None:
    link = wb.open_links()[0]
    listings = calls(wb, "graph.list_plan_tasks")
    run_watcher(delta_watcher(wb))
    stored = wb.scan.stores.cursors.get(cursor_name(link.plan_id)).value["delta_link"]
    wb.graph.sandbox.configure(delta_gone=True)  # Graph forgot the sync state: the deltaLink answers 410
    wb.complete(link)
    report = run_watcher(delta_watcher(wb))
    assert report.seen["delta_resync"] == 1 and report.seen["delta_fallback"] == 0
    assert report.writebacks == {"done": 1} and wb.stage(link.product_id) == "ready_for_syndication"
    assert wb.scan.stores.cursors.get(cursor_name(link.plan_id)).value["delta_link"] != stored
    assert calls(wb, "graph.list_plan_tasks") == listings


def test_any_beta_failure_falls_back_to_the_v1_listing(wb) -> None:
    link = wb.open_links()[0]
    wb.complete(link)
    wb.graph.app.faults.add("graph.delta", {"kind": "status", "status": 500, "count": 100})
    listings = calls(wb, "graph.list_plan_tasks")
    report = run_watcher(delta_watcher(wb))
    assert report.seen["delta_fallback"] == 1 and report.errors == []
    assert calls(wb, "graph.list_plan_tasks") == listings + 1
    assert report.writebacks == {"done": 1} and wb.stage(link.product_id) == "ready_for_syndication"
    assert [r.state for r in wb.outbox.list()] == [WritebackState.done]
    assert wb.scan.stores.cursors.get(cursor_name(link.plan_id)) is None  # no round finished: nothing kept


def test_the_delta_link_is_kept_only_after_the_round_was_acted_on(wb) -> None:
    """A run that dies while acting on a round must see the same changes again next time."""
    link = wb.open_links()[0]
    run_watcher(delta_watcher(wb))
    kept = wb.scan.stores.cursors.get(cursor_name(link.plan_id)).value["delta_link"]
    wb.complete(link)

    class Died(Exception):
        pass

    def die(step: str) -> None:
        raise Died(step)

    deps = delta_watcher(wb)
    deps.checkpoint = die  # dies at the write-back's first step, after the completion was recorded
    with pytest.raises(Died):
        run_watcher(deps)
    assert wb.scan.stores.cursors.get(cursor_name(link.plan_id)).value["delta_link"] == kept
