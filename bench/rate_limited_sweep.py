"""Bench (issue 14): a full sweep under Plytix's published limit, against the time the limit itself imposes.

The Plytix stand-in runs in its own process with its 10-second window at 20 calls (the free plan, API
limits in the Postman collection); the scan's client is configured with the same PLYTIX_RATE_PER_10S and
its default PLYTIX_RATE_MARGIN_SECONDS. One full sweep of N products with 5% gaps (strict search: family
GETs for the products with findings count against the limit too). Printed next to their bounds:
- wall time against the limit-bound time: N calls need at least (ceil(N / 20) - 1) windows of 10 s
  (goal: within 1.10x);
- 429s the stand-in answered (goal: 0).

Run: python -m bench.rate_limited_sweep [--products 10000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Sequence

import httpx

from bench.scan_cost import GAP_RATE, ROOT, scan_world
from bench.table import render
from devhost.azurite import start_azurite
from shared.scan import run_full_scan

RATE_PER_10S = 20
GOAL_RATIO = 1.10


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000, help="catalog size")
    args, _ = parser.parse_known_args(argv)
    print(f"Full sweep of {args.products:,} products under {RATE_PER_10S} Plytix calls per 10 s; stand-ins in "
          f"their own process, tables in Azurite", flush=True)
    azurite = start_azurite(ROOT)
    try:
        with scan_world(args.products, azurite.connection_string, GAP_RATE,
                        sandbox_args=("--rate-per-10s", str(RATE_PER_10S)),
                        PLYTIX_RATE_PER_10S=RATE_PER_10S) as deps:
            started = time.perf_counter()
            report = run_full_scan(deps)
            wall = time.perf_counter() - started
            calls = sum(deps.plytix.stats.snapshot()["calls"].values())
            refused = httpx.get(f"{deps.settings.PLYTIX_BASE_URL}/_sandbox/stats", timeout=10).json()["rate_limited"]
    finally:
        azurite.stop()
    bound = (math.ceil(calls / RATE_PER_10S) - 1) * 10.0
    ratio = wall / bound if bound else float("nan")
    print(render(("products", "tasks created", "Plytix calls", "limit-bound s", "wall s", "ratio", "goal",
                  "429s", "goal 429s"),
                 [(f"{args.products:,}", f"{report.done.get('create', 0):,}", f"{calls:,}", f"{bound:.1f}",
                   f"{wall:.1f}", f"{ratio:.2f}", f"<= {GOAL_RATIO:.2f}", f"{refused}", "0")]))
    print(f"Time goal {'met' if ratio <= GOAL_RATIO else 'MISSED'}; 429 goal {'met' if refused == 0 else 'MISSED'}.")


if __name__ == "__main__":
    main(sys.argv[1:])
