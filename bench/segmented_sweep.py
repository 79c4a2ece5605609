"""Bench (issue 12): what a segmented full sweep costs beyond the one-invocation sweep.

The same catalog (stand-ins in their own process, 5% gaps), swept once in one go and once in windows of
`created` (SWEEP_SEGMENT_PRODUCTS), each in a fresh world. Printed: windows, Plytix search calls (pages +
the count calls that size the windows), all Plytix calls, Graph calls, tasks created, wall time. The
bound for the pages is ceil(N/100) in one go, plus at most one short page per window.

Run: python -m bench.segmented_sweep [--products 10000] [--segment 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Sequence

from bench.scan_cost import GAP_RATE, ROOT, scan_world
from bench.table import render
from devhost.azurite import start_azurite
from shared.scan import SWEEP_WINDOW_MODE, ScanDeps, run_full_scan
from shared.sweep import run_sweep


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000, help="catalog size")
    parser.add_argument("--segment", type=int, default=2_000, help="SWEEP_SEGMENT_PRODUCTS")
    args, _ = parser.parse_known_args(argv)
    print(f"Full sweep of {args.products:,} products in one go and in windows of about {args.segment:,}; "
          "stand-ins in their own process, tables in Azurite", flush=True)
    azurite = start_azurite(ROOT)
    try:
        with scan_world(args.products, azurite.connection_string, GAP_RATE) as deps:
            one = measure(deps, "one invocation", lambda: (1, run_full_scan(deps).done.get("create", 0)))
        with scan_world(args.products, azurite.connection_string, GAP_RATE,
                        SWEEP_SEGMENT_PRODUCTS=args.segment) as deps:
            windows = measure(deps, f"windows of ~{args.segment:,}", lambda: segmented(deps))
    finally:
        azurite.stop()
    print(render(("sweep", "windows", "search calls", "Plytix calls", "Graph calls", "tasks created", "wall s"),
                 [one, windows]))


def segmented(deps: ScanDeps) -> tuple[int, int]:
    report = run_sweep(deps, start=True, budget_seconds=3600)
    assert report is not None and report.finished
    windows = [s for s in report.segments if s.mode == SWEEP_WINDOW_MODE]
    return len(windows), sum(s.done.get("create", 0) for s in report.segments)


def measure(deps: ScanDeps, label: str, run: Callable[[], tuple[int, int]]) -> tuple[str, ...]:
    started = time.perf_counter()
    windows, created = run()
    wall = time.perf_counter() - started
    plytix = deps.plytix.stats.snapshot()["calls"]
    print(f"  {label}: Plytix calls by endpoint {dict(plytix)}", flush=True)
    return (label, str(windows), f"{plytix.get('search', 0):,}", f"{sum(plytix.values()):,}",
            f"{sum(deps.planner.stats.calls.values()):,}", f"{created:,}", f"{wall:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
