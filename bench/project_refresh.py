"""Bench (issue 13): the Graph and Plytix calls of a catalog project's refresh, 50 groups of products.

The stand-ins run in their own process with N products; every product's `material` is set to one of 50
supplier names first, and the project groups by it (`group_by: attribute`), one milestone: 50 tasks of
about N/50 products (beyond 20, so a summary, no checklist). Printed per step:
- the full sweep that creates the project's tasks (for scale);
- a quiet refresh (nothing changed in Planner): the bound is one task listing per 400 tasks, 0 Plytix;
- a refresh after people complete 5 group tasks: + 0 details reads (a completed task needs none), and per
  product that reached the milestone one outbox write-back: GET + PATCH to Plytix (the bound: 2 each);
- the same refresh again: nothing more is written (exactly once).
The refresh here lists the plan itself; inside a pass it reuses the pass's listing (one call fewer).

Run: python -m bench.project_refresh [--products 5000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from typing import Sequence

import httpx

from bench.scan_cost import ROOT, scan_world
from bench.table import render
from devhost.azurite import start_azurite
from sandbox.graph_state import CATALOG_PLAN_ID
from shared.projects.progress import refresh_progress
from shared.projects.summary import project_rules
from shared.scan import ScanDeps, run_full_scan

GROUPS = 50
COMPLETED_GROUPS = 5
RULES = f"""\
version: 1
defaults:
  owner: content.editor@contoso.example
rules:
  - id: suppliers
    type: catalog_project
    name: Supplier audit
    plan_id: {CATALOG_PLAN_ID}
    group_by: attribute
    group_attribute: material
    milestones:
      - {{id: audit, name: Audited, due: 2099-01-01}}
    progress: {{stage_attribute: project_stage, status_attribute: project_status}}
"""


def calls(deps: ScanDeps) -> tuple[int, int, int]:
    return (sum(deps.plytix.stats.snapshot()["calls"].values()), sum(deps.planner.stats.calls.values()),
            deps.stores.stats.count())


def measured(deps: ScanDeps, label: str, run: object) -> tuple[str, ...]:
    before = calls(deps)
    started = time.perf_counter()
    result = run() if callable(run) else None
    wall = time.perf_counter() - started
    after = calls(deps)
    plytix, graph, table = (a - b for a, b in zip(after, before, strict=True))
    writebacks = getattr(result, "writebacks", "")
    return (label, f"{graph:,}", f"{plytix:,}", f"{table:,}", f"{writebacks}", f"{wall:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5_000, help="catalog size")
    args, _ = parser.parse_known_args(argv)
    print(f"Catalog project refresh: {args.products:,} products in {GROUPS} groups; stand-ins in their own "
          "process, tables in Azurite", flush=True)
    azurite = start_azurite(ROOT)
    try:
        with scan_world(args.products, azurite.connection_string, 0.0, RULES) as deps:
            rows = run_bench(deps)
    finally:
        azurite.stop()
    print(render(("step", "Graph calls", "Plytix calls", "Table requests", "write-backs", "wall s"), rows))


def run_bench(deps: ScanDeps) -> list[tuple[str, ...]]:
    plytix, graph = deps.settings.PLYTIX_BASE_URL, deps.settings.GRAPH_BASE_URL.removesuffix("/v1.0")
    with httpx.Client(timeout=60) as admin:
        for number, product in enumerate(admin.get(f"{plytix}/_sandbox/products").json()["data"]):
            admin.patch(f"{plytix}/_sandbox/products/{product['id']}",
                        json={"attributes": {"material": f"Supplier {number % GROUPS:02d}"}}).raise_for_status()
        (rule,) = project_rules(deps.rules)
        rows = [measured(deps, "full sweep: creates the tasks", lambda: run_full_scan(deps))]
        tasks = [t for t in admin.get(f"{graph}/_sandbox/plans/{CATALOG_PLAN_ID}/tasks").json()["value"]
                 if t["title"].startswith("Supplier audit:")]
        sizes = Counter(len(t["details"]["checklist"]) for t in tasks)
        print(f"{len(tasks)} project tasks (checklist sizes {dict(sizes)}); listing bound "
              f"{math.ceil(len(tasks) / 400)} call per refresh", flush=True)
        rows.append(measured(deps, "refresh, first read", lambda: refresh_progress(deps, rule, "bench")))
        rows.append(measured(deps, "refresh, quiet", lambda: refresh_progress(deps, rule, "bench")))
        for task in sorted(tasks, key=lambda t: t["title"])[:COMPLETED_GROUPS]:
            admin.post(f"{graph}/_sandbox/tasks/{task['id']}/complete",
                       json={"by": "content.editor@contoso.example"}).raise_for_status()
        rows.append(measured(deps, f"refresh, {COMPLETED_GROUPS} groups completed",
                             lambda: refresh_progress(deps, rule, "bench")))
        rows.append(measured(deps, "refresh, the same again", lambda: refresh_progress(deps, rule, "bench")))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
