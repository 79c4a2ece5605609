"""Smoke test of the job-4 bench on a 400-task plan: the call counts it reports meet their goals (one
listing page in v1.0, one delta call on a quiet run), and a completion is written back in one run."""

from __future__ import annotations

from bench import writeback


def test_watcher_calls_on_a_400_task_plan_meet_the_goals(azurite: str) -> None:
    v1, delta = writeback.watcher_calls(azurite, 400)
    assert (v1.mode, v1.first, v1.quiet, v1.completion, v1.runs_to_write) == ("v1.0", 1, 1, 1, 1)
    # delta: the first round pages the plan, a quiet run is one call, a completion adds one task read
    assert (delta.mode, delta.first, delta.quiet, delta.completion, delta.runs_to_write) == ("delta", 1, 1, 2, 1)
    assert all(cells[6] == "met" for cells in (v1.row(), delta.row()))
