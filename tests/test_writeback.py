"""Job 4: a completed task moves its product on in Plytix exactly once, with its guards.

Real parts: Azurite, the Plytix and Graph stand-ins over HTTP, the production watcher and scan. The only
stand-in for a real part is the crash: a checkpoint callback raises at a named step (no real process can
be killed at an exact line from a test)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.completion_watcher import run_watcher
from shared.reconcile.execute import Crash
from shared.scan import run_full_scan
from shared.store import LinkState
from shared.writeback import EchoLog, WritebackState, retry, writeback_context
from tests.writeback_world import PERSON, writeback_world


@pytest.fixture
def wb(world: dict, tmp_path: Path):
    return writeback_world(world, tmp_path)


def test_a_completion_moves_the_stage_once_even_when_the_write_fails_twice_first(wb) -> None:
    link = wb.open_links()[0]
    assert link.data["stage"] == "approved" and wb.stage(link.product_id) == "approved"
    wb.complete(link)
    wb.fail_patches(2)
    report = run_watcher(wb.watcher())
    assert report.seen["completed"] == 1 and report.writebacks == {"done": 1}
    assert wb.stage(link.product_id) == "ready_for_syndication"
    assert len(wb.stage_writes(link.product_id)) == 1
    row = next(wb.outbox.list())
    assert (row.state, row.attempts, row.outcome) == (WritebackState.done, 3, "written")
    assert wb.link(link.fingerprint).state is LinkState.completed
    # later watcher runs and a full sweep see the same completion and write nothing more
    assert run_watcher(wb.watcher()).writebacks == {}
    run_full_scan(wb.scan)
    assert len(wb.stage_writes(link.product_id)) == 1


def test_two_watchers_at_once_write_once_even_when_the_write_fails_twice_first(wb) -> None:
    links = wb.open_links()[:3]
    for link in links:
        wb.complete(link)
    wb.fail_patches(2)
    barrier = threading.Barrier(2)
    reports = []

    def watch() -> None:
        deps = wb.watcher(fresh_clients=True)
        barrier.wait()
        reports.append(run_watcher(deps))

    threads = [threading.Thread(target=watch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(reports) == 2
    for link in links:
        assert wb.stage(link.product_id) == "ready_for_syndication"
        assert len(wb.stage_writes(link.product_id)) == 1
    rows = list(wb.outbox.list())
    assert sorted(r.state.value for r in rows) == ["done"] * 3
    assert sum(r.attempts for r in rows) == 3 + 2  # each failed PATCH was retried, none was lost


@pytest.mark.parametrize("step", ["leased", "read", "before_patch", "after_patch"])
def test_a_crash_at_any_step_ends_in_one_write(wb, step: str) -> None:
    link = wb.open_links()[0]
    wb.complete(link)

    def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        run_watcher(wb.watcher(checkpoint=crash))
    row = next(wb.outbox.list())
    assert row.state is WritebackState.applying
    # the next instance finds the row leased; once the lease has run out it takes over
    later = datetime.now(timezone.utc) + timedelta(minutes=3)
    run_watcher(wb.watcher(fresh_clients=True, clock=lambda: later))
    row = wb.outbox.get(row.id)
    assert row.state is WritebackState.done
    assert row.outcome == ("found done: the product already holds these values" if step == "after_patch"
                           else "written")
    assert wb.stage(link.product_id) == "ready_for_syndication"
    assert len(wb.stage_writes(link.product_id)) == 1


def test_a_write_whose_answer_is_lost_after_plytix_acted_is_found_done_not_resent(wb) -> None:
    link = wb.open_links()[0]
    wb.complete(link)
    wb.fail_patches(1, status=502, act=True)  # a gateway fails after Plytix applied the PATCH
    run_watcher(wb.watcher())
    row = next(wb.outbox.list())
    assert (row.state, row.outcome) == (WritebackState.done, "found done: the product already holds these values")
    assert len(wb.stage_writes(link.product_id)) == 1


def test_a_stale_stage_is_a_reported_conflict_not_a_write(wb) -> None:
    link = wb.open_links()[0]
    wb.plytix.sandbox.edit_product(link.product_id, attributes={"workflow_stage": "enrichment"})
    wb.complete(link)
    run_watcher(wb.watcher())
    row = next(wb.outbox.list())
    assert row.state is WritebackState.conflict
    assert "no longer in 'approved'" in row.outcome
    assert wb.stage(link.product_id) == "enrichment" and wb.stage_writes(link.product_id) == []
    task = next(t for t in wb.graph.sandbox.plan_tasks(link.plan_id) if t["id"] == link.task_id)
    assert task["percentComplete"] == 100  # the task is left as it is
    assert "Not written back to Plytix" in task["details"]["description"]
    audit = [e for e in wb.scan.stores.audit.for_product(link.product_id) if e.action == "write_back:conflict"]
    assert len(audit) == 1 and "no longer in 'approved'" in audit[0].reason
    run_watcher(wb.watcher())  # the note is added once
    task = next(t for t in wb.graph.sandbox.plan_tasks(link.plan_id) if t["id"] == link.task_id)
    assert task["details"]["description"].count("Not written back to Plytix") == 1


def test_a_reopened_task_moves_nothing_back_and_a_second_completion_moves_nothing_again(wb) -> None:
    link = wb.open_links()[0]
    wb.complete(link)
    run_watcher(wb.watcher())
    assert wb.stage(link.product_id) == "ready_for_syndication"
    wb.graph.sandbox.reopen_task(link.task_id)
    report = run_watcher(wb.watcher())
    assert report.seen["reopened"] == 1
    assert wb.link(link.fingerprint).state is LinkState.open
    assert wb.stage(link.product_id) == "ready_for_syndication"
    wb.complete(link)
    run_watcher(wb.watcher())
    assert wb.stage(link.product_id) == "ready_for_syndication"
    assert len(wb.stage_writes(link.product_id)) == 1


def test_after_n_failures_the_row_is_poison_until_retried(wb) -> None:
    link = wb.open_links()[0]
    wb.complete(link)
    wb.fail_patches(5)  # WRITEBACK_MAX_ATTEMPTS defaults to 5; three attempts per run
    run_watcher(wb.watcher())
    row = next(wb.outbox.list())
    assert (row.state, row.attempts) == (WritebackState.pending, 3)
    run_watcher(wb.watcher(clock=lambda: datetime.now(timezone.utc) + timedelta(hours=1)))
    row = wb.outbox.get(row.id)
    assert (row.state, row.attempts) == (WritebackState.failed, 5)
    assert "500" in row.last_error
    assert [r.id for r in wb.outbox.list(WritebackState.failed)] == [row.id]
    assert wb.stage(link.product_id) == "approved"
    ctx = writeback_context(wb.watcher(), "test")
    assert retry(ctx, row.id).state is WritebackState.pending
    run_watcher(wb.watcher())
    assert wb.outbox.get(row.id).state is WritebackState.done
    assert wb.stage(link.product_id) == "ready_for_syndication"


def test_the_scan_and_the_watcher_agree_on_one_completion(wb) -> None:
    link = wb.open_links()[0]
    wb.complete(link)
    report = run_full_scan(wb.scan)  # the scan sees it first: no reopen, a write-back instead
    assert report.done.get("mark_completed") == 1 and not report.done.get("reopen")
    assert wb.stage(link.product_id) == "ready_for_syndication"
    watcher = run_watcher(wb.watcher())
    assert watcher.seen["completed"] == 0 and watcher.writebacks == {}
    assert len(wb.stage_writes(link.product_id)) == 1


def test_our_own_write_is_recognised_as_an_echo(wb) -> None:
    link = wb.open_links()[0]
    wb.complete(link)
    run_watcher(wb.watcher())
    echoes = EchoLog(wb.scan.stores.table("echoes"))
    modified = wb.plytix.sandbox.product(link.product_id)["modified"]
    assert echoes.is_own_write(link.product_id, modified)
    assert echoes.written(link.product_id)[0].values["attributes"] == {"workflow_stage": "ready_for_syndication"}
    wb.plytix.sandbox.edit_product(link.product_id, attributes={"short_description": "a person's edit"})
    assert not echoes.is_own_write(link.product_id, wb.plytix.sandbox.product(link.product_id)["modified"])


def test_the_echo_is_on_record_before_the_patch_so_a_crash_right_after_it_echoes_nothing(wb) -> None:
    """A pass reading the product between our PATCH and the end of the write-back must see our echo."""
    link = wb.open_links()[0]
    wb.complete(link)

    def crash(at: str) -> None:
        if at == "after_patch":
            raise Crash(at)

    with pytest.raises(Crash):
        run_watcher(wb.watcher(checkpoint=crash))
    assert wb.stage(link.product_id) == "ready_for_syndication"
    echoes = EchoLog(wb.scan.stores.table("echoes")).written(link.product_id)
    assert [e.values["attributes"] for e in echoes] == [{"workflow_stage": "ready_for_syndication"}]


def test_deleted_and_reassigned_tasks_are_recorded(wb) -> None:
    first, second = wb.open_links()[:2]
    run_watcher(wb.watcher())  # the first look records who holds each task
    wb.graph.sandbox.delete_task(first.task_id)
    wb.graph.sandbox.reassign_task(second.task_id, ["merch.lead@contoso.example"], by=PERSON)
    report = run_watcher(wb.watcher())
    assert (report.seen["deleted"], report.seen["reassigned"]) == (1, 1)
    assert wb.link(first.fingerprint).state is LinkState.deleted
    assert [e.action for e in wb.scan.stores.audit.for_product(second.product_id)][-1] == "task_reassigned"
