"""Bench (job 4): what the completion watcher costs in Graph calls, how soon a completion is written back,
and how fast the Planner-notification endpoint answers.

1. Watcher Graph calls per run for one plan of 400, 2,000 and 9,000 tasks (Planner's per-plan maximum),
   in v1.0 mode (the listing, about 400 tasks a page) and with PLANNER_DELTA=beta. The plan holds the
   tasks a full sweep created for the write-back rule plus completed filler tasks; the Graph stand-in
   pages as Graph does (sandbox/graph.py). Per mode: the first run, a quiet run (nothing changed), and a
   run after a person completed one task. Goals: v1.0, one listing call per 400 tasks (ceil(N / 400));
   delta, one call per run when nothing changed.
2. Completion-to-write-back latency in watcher periods: how many watcher runs after a completion the
   product's stage has moved, plain and with the first two Plytix PATCHes failing. A completion waits at
   most one period for the next run, then that run's wall time: worst case 1 + wall / period. Goal <= 1.
3. Acknowledgement latency of POST /api/planner/notifications at 50 requests/s on the local host
   (`python -m devhost`, its own process, queue trigger off so only the answer is timed; each request is
   parsed, its clientState checked and its ids queued in Azurite), and one at a time. Goal p99 < 100 ms.

Run: python -m bench.writeback [--seconds 10] [--rate 50] [--tasks 400 2000 9000]
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import httpx

from bench.channels import ACK_GOAL_MS, ack_table, local_host, one_at_a_time, send_at_rate, wait_until_answering
from bench.scan_cost import ROOT
from bench.table import render
from devhost.azurite import start_azurite
from sandbox.base import RunningServer
from sandbox.graph import GraphSandbox
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from sandbox.plytix import PlytixSandbox
from shared.completion_watcher import WatcherDeps, run_watcher
from shared.planner import PlannerClient
from shared.plytix import PlytixClient
from shared.scan import run_full_scan
from shared.settings import PlannerDelta, Settings
from shared.store import LinkState
from tests.scan_world import build_deps, world_settings
from tests.writeback_world import PERSON, RULE_ID, WRITEBACK_RULES

TASKS_PER_PAGE = 400  # plannerplan-list-tasks pages (API_FACTS.md)
PLAN_SIZES = (400, 2_000, 9_000)
PERIOD_SECONDS = 60  # COMPLETION_SCHEDULE's default, every minute
CLIENT_STATE = "bench-client-state"
MODES = {"v1.0": PlannerDelta.off, "delta": PlannerDelta.beta}


@dataclass
class World:
    settings: Settings
    plytix: RunningServer
    graph: RunningServer
    plytix_client: PlytixClient
    planner: PlannerClient
    stores: Any
    rules_file: Any
    rules: Path

    def watcher(self, mode: PlannerDelta) -> WatcherDeps:
        return WatcherDeps(settings=self.settings.model_copy(update={"PLANNER_DELTA": mode}),
                           rules_file=self.rules_file, plytix=self.plytix_client, planner=self.planner,
                           stores=self.stores, sleep=lambda seconds: None)

    def open_task_ids(self) -> list[tuple[str, str]]:
        """(task id, product id) of every open link, in a stable order."""
        links = self.stores.links.list_rule(RULE_ID, {LinkState.open})
        return sorted((link.task_id, link.product_id) for link in links if link.task_id)

    def stage(self, product_id: str) -> Any:
        return self.plytix.sandbox.product(product_id)["attributes"].get("workflow_stage")  # type: ignore[attr-defined]  # the stand-in hung on its server


@contextmanager
def world(storage: str) -> Iterator[World]:
    """Fresh stand-ins (in this process: only calls are counted here), fresh tables, the write-back rule,
    and one full sweep so the rule's tasks exist."""
    plytix_sandbox, graph_sandbox = PlytixSandbox(products=200, seed=7), GraphSandbox(seed=7)
    plytix, graph = RunningServer(plytix_sandbox.app), RunningServer(graph_sandbox.app)
    plytix.sandbox, graph.sandbox = plytix_sandbox, graph_sandbox  # type: ignore[attr-defined]  # the stand-in hung on its server
    with tempfile.TemporaryDirectory(prefix="bench-writeback-") as workdir:
        rules = Path(workdir) / "rules.yaml"
        rules.write_text(WRITEBACK_RULES)
        settings = world_settings(plytix.url, graph.url, storage, "bench" + uuid.uuid4().hex[:10], rules,
                                  PLYTIX_RATE_PER_10S=1000, PLYTIX_RATE_PER_HOUR=1_000_000)
        deps = build_deps(settings)
        try:
            run_full_scan(deps)
            yield World(settings, plytix, graph, deps.plytix, deps.planner, deps.stores, deps.rules_file, rules)
        finally:
            deps.plytix.close()
            deps.planner.close()
            deps.stores.close()
            plytix.stop()
            graph.stop()


@dataclass
class CallRow:
    tasks: int
    mode: str
    first: int
    quiet: int
    completion: int
    runs_to_write: int

    def row(self) -> tuple[str, ...]:
        goal = math.ceil(self.tasks / TASKS_PER_PAGE) if self.mode == "v1.0" else 1
        quiet_ok = self.quiet <= goal
        return (f"{self.tasks:,}", self.mode, f"{self.first}", f"{self.quiet}", f"{self.completion}",
                f"{goal}", "met" if quiet_ok else "MISSED", f"{self.runs_to_write}")


def watcher_calls(storage: str, tasks: int) -> list[CallRow]:
    """Both modes on one plan of `tasks` tasks; each mode completes its own task."""
    rows = []
    with world(storage) as w:
        existing = len(w.graph.sandbox.plan_tasks(PRODUCT_DATA_PLAN_ID))  # type: ignore[attr-defined]  # the stand-in hung on its server
        w.graph.sandbox.seed_tasks(PRODUCT_DATA_PLAN_ID, tasks - existing, completed=True)  # type: ignore[attr-defined]  # the stand-in hung on its server
        open_tasks = w.open_task_ids()
        for (label, mode), (task_id, product_id) in zip(MODES.items(), open_tasks, strict=False):
            first = run_watcher(w.watcher(mode)).graph_calls
            quiet = run_watcher(w.watcher(mode)).graph_calls
            w.graph.sandbox.complete_task(task_id, by=PERSON)  # type: ignore[attr-defined]  # the stand-in hung on its server
            completion = run_watcher(w.watcher(mode)).graph_calls
            rows.append(CallRow(tasks, label, first, quiet, completion, runs_until_moved(w, mode, product_id, 1)))
    return rows


def runs_until_moved(w: World, mode: PlannerDelta, product_id: str, done: int, limit: int = 5) -> int:
    """`done` watcher runs have happened since the completion; run more until the stage moved."""
    runs = done
    while w.stage(product_id) == "approved" and runs < limit:
        run_watcher(w.watcher(mode))
        runs += 1
    return runs


def latency_in_periods(storage: str) -> list[tuple[str, ...]]:
    """Runs until the stage moved after a completion, and the worst case in periods (wait + run)."""
    rows: list[tuple[str, ...]] = []
    with world(storage) as w:
        open_tasks = w.open_task_ids()
        scenarios = [("v1.0", PlannerDelta.off, 0), ("v1.0, 2 PATCHes fail", PlannerDelta.off, 2),
                     ("delta", PlannerDelta.beta, 0), ("delta, 2 PATCHes fail", PlannerDelta.beta, 2)]
        run_watcher(w.watcher(PlannerDelta.beta))  # the delta mode's first round, before any completion
        for (label, mode, failures), (task_id, product_id) in zip(scenarios, open_tasks, strict=False):
            w.graph.sandbox.complete_task(task_id, by=PERSON)  # type: ignore[attr-defined]  # the stand-in hung on its server
            if failures:
                w.plytix.app.faults.add("plytix.patch_product", {"kind": "status", "status": 500, "count": failures})
            began = time.perf_counter()
            run_watcher(w.watcher(mode))
            wall = time.perf_counter() - began
            runs = runs_until_moved(w, mode, product_id, 1)
            worst = runs + wall / PERIOD_SECONDS  # up to a period until the next run, then the runs it takes
            rows.append((label, f"{runs}", f"{wall:.2f}", f"{worst:.3f}", "met" if runs == 1 else "MISSED"))
    return rows


def ack_latencies(storage: str, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    with world(storage) as w, local_host(w.plytix.url, w.graph.url, storage, w.rules,
                                         PLANNER_NOTIFICATION_CLIENT_STATE=CLIENT_STATE) as base:
        url = f"{base}/planner/notifications"
        wait_until_answering(url, ready_status=400)

        def post(client: httpx.Client, index: int) -> None:
            task_id = secrets.token_urlsafe(21)  # 28 characters, like a Planner id
            item = {"changeType": "updated", "clientState": CLIENT_STATE, "resource": f"planner/tasks/{task_id}",
                    "resourceData": {"id": task_id}}
            response = client.post(url, json={"value": [item]})
            if response.status_code != 202:
                raise RuntimeError(f"notification {index}: {response.status_code} {response.text}")

        return send_at_rate(post, rate, seconds), one_at_a_time(post, first_index=0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send notifications")
    parser.add_argument("--rate", type=float, default=50.0, help="notifications per second")
    parser.add_argument("--tasks", type=int, nargs="+", default=list(PLAN_SIZES), help="plan sizes")
    args, _ = parser.parse_known_args(argv)  # `python -m bench` hands every bench the same arguments
    print("Job-4 completion watcher and Planner notifications; stand-ins and Azurite local", flush=True)
    azurite = start_azurite(ROOT)
    try:
        calls = [row for size in args.tasks for row in watcher_calls(azurite.connection_string, size)]
        latency = latency_in_periods(azurite.connection_string)
        acks, sequential = ack_latencies(azurite.connection_string, args.rate, args.seconds)
    finally:
        azurite.stop()
    print("\nWatcher Graph calls per run, one plan (goal: v1.0 ceil(tasks / 400) listing calls; delta 1 call "
          "when nothing changed)")
    print(render(("plan tasks", "mode", "first run", "quiet run", "run with a completion", "goal (quiet)",
                  "quiet vs goal", "runs to write-back"), [r.row() for r in calls]))
    print(f"\nCompletion to write-back, in watcher periods ({PERIOD_SECONDS} s; worst case = wait for the next "
          "run + the runs it takes; goal <= 1 run)")
    print(render(("scenario", "runs", "run wall s", "worst case periods", "runs <= 1"), latency))
    print(f"\nPOST /api/planner/notifications acknowledgement at {args.rate:.0f} requests/s for {args.seconds:.0f} s "
          f"(clientState checked, ids queued in Azurite; goal p99 < {ACK_GOAL_MS:.0f} ms)")
    print(ack_table(args.rate, acks, sequential))


if __name__ == "__main__":
    main(sys.argv[1:])
