"""Bench (issue 12): creating 500 tasks with 100 ms of Graph latency, one at a time and GRAPH_CONCURRENCY
at a time.

The stand-ins run in their own process with `--graph-latency-ms 100` (every Graph answer held 100 ms,
as a round trip to Graph would be); a catalog where about 500 products have gaps, so one full sweep
creates about 500 tasks (3 Graph calls each: POST task, GET details, PATCH details). The sequential time is
what the calls alone cost one after another: 1,500 x 100 ms = 150 s (goal: the pass takes at most a fifth
of it). Printed per concurrency: tasks created, Graph calls, 429s, the pass's wall time, and its ratio to
the sequential time.

Run: python -m bench.concurrent_creates [--products 1000] [--workers 1 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from bench.scan_cost import ROOT, scan_world
from bench.table import render
from devhost.azurite import start_azurite
from shared.scan import run_full_scan

LATENCY_MS = 100
GAP_RATE = 0.5
GOAL = 0.2


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000, help="catalog size (half have gaps)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8], help="GRAPH_CONCURRENCY values")
    args, _ = parser.parse_known_args(argv)
    print(f"Creating tasks with {LATENCY_MS} ms per Graph answer: {args.products:,} products, "
          f"{GAP_RATE:.0%} with gaps; stand-ins in their own process, tables in Azurite", flush=True)
    azurite = start_azurite(ROOT)
    rows = []
    try:
        for workers in args.workers:
            rows.append(measure(args.products, workers, azurite.connection_string))
            print(f"  GRAPH_CONCURRENCY={workers}: {rows[-1][4]} s", flush=True)
    finally:
        azurite.stop()
    print(render(("GRAPH_CONCURRENCY", "tasks created", "Graph calls", "429s", "pass s",
                  "sequential s (calls x 100 ms)", "ratio", "goal"), rows))


def measure(products: int, workers: int, storage: str) -> tuple[str, ...]:
    with scan_world(products, storage, GAP_RATE, sandbox_args=("--graph-latency-ms", str(LATENCY_MS)),
                    GRAPH_CONCURRENCY=workers) as deps:
        started = time.perf_counter()
        report = run_full_scan(deps)
        wall = time.perf_counter() - started
        created = report.done.get("create", 0)
        graph_calls = sum(deps.planner.stats.calls.values())
        throttled = sum(deps.planner.stats.throttled.values())
    sequential = 3 * created * LATENCY_MS / 1000
    ratio = wall / sequential if sequential else float("nan")
    return (str(workers), f"{created:,}", f"{graph_calls:,}", str(throttled), f"{wall:.1f}", f"{sequential:.1f}",
            f"{ratio:.2f}", f"<= {GOAL}")


if __name__ == "__main__":
    main(sys.argv[1:])
