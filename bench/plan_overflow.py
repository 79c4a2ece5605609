"""Bench (issue 14): a 100,000-product sweep with 5% gaps and grouping off, all into one Planner plan.

5,000 findings want 5,000 tasks; Planner allows about 2,400 active tasks per plan (403
MaximumActiveTasksInProject, which the Graph stand-in enforces). Printed: the creates the sweep sent,
how many Graph refused (goal: 0, no call spent on a create that must fail), the plan's active tasks
against the limit, and the overflow the scan report gives (what the rules file's plan_overflow policy,
digest by default, did with the rest).

Run: python -m bench.plan_overflow [--products 100000]
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from bench.scan_cost import GAP_RATE, ROOT, scan_world
from bench.table import render
from devhost.azurite import start_azurite
from shared.scan import run_full_scan


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000, help="catalog size")
    args, _ = parser.parse_known_args(argv)
    print(f"Full sweep of {args.products:,} products, {GAP_RATE:.0%} gaps, grouping off, one plan", flush=True)
    azurite = start_azurite(ROOT)
    try:
        with scan_world(args.products, azurite.connection_string, GAP_RATE) as deps:
            report = run_full_scan(deps)
            sent = deps.planner.stats.calls.get("create_task", 0)
    finally:
        azurite.stop()
    created = report.done.get("create", 0)
    rows = [(f"{args.products:,}", f"{report.findings:,}", f"{sent:,}", f"{created:,}", f"{sent - created:,}", "0",
             plan[-8:], f"{room['active']:,}", f"{room['created']:,}", f"{room['stop_at']:,}", f"{room['limit']:,}",
             f"{room['overflow']:,}", f"{room['digested']:,}", f"{room['deferred']:,}")
            for plan, room in report.plan_capacity.items()]
    print(render(("products", "findings", "creates sent", "created", "refused by Graph", "goal", "plan",
                  "active before", "new in plan", "stop at", "Planner limit", "overflow", "in digests",
                  "deferred"), rows))
    print(f"Errors: {report.errors or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
