"""Bench (issue 10): what the change feed costs per 1,000 changed products.

A catalog of `--products` products runs in the stand-ins' own process, with the event rules of the demo
kind: a `review_on_change` rule watching `short_description` and a `launch_checklist` rule triggered by
the workflow stage `published`. After a baseline full sweep, `--changed` products are changed as a person
would (the sandbox's admin API, not counted) and one incremental pass reads them, three times over:
1. an attribute nobody watches changed: the feed reads and compares, and writes nothing;
2. the watched workflow stage moved without reaching the trigger: one snapshot write per product, no task;
3. the watched `short_description` changed: one review task per product, then its snapshot.

Per scenario it prints Plytix calls against the page lower bound ceil(N/100), snapshot reads and writes
(requests, and entities written) per changed product, and all Table operations per changed product.
Goal: at most one snapshot read and one write per changed product, batched by partition.

Run: python -m bench.change_feed_cost [--products 2000] [--changed 1000]
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import httpx

from bench.scan_cost import ROOT, scan_world
from bench.table import render
from devhost.azurite import start_azurite
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from shared.plytix import MAX_PAGE_SIZE
from shared.scan import ScanDeps, run_full_scan, run_incremental_scan

RULES_YAML = f"""\
version: 1
defaults: {{plan_id: {PRODUCT_DATA_PLAN_ID}, bucket: Events, owner: content.editor@contoso.example}}
rules:
  - id: review
    type: review_on_change
    name: Review
    select: {{status: [Draft, Completed, Archived]}}
    watch: [short_description]
  - id: launch
    type: launch_checklist
    name: Launch
    trigger: {{stages: [published]}}
    tasks: [{{key: go, name: Go live}}]
"""


@dataclass(frozen=True)
class ScenarioCost:
    name: str
    changed: int
    products_read: int
    plytix: dict[str, int]
    storage: dict[str, dict[str, int]]
    tasks_created: int
    wall_seconds: float

    @property
    def lower_bound(self) -> int:
        return math.ceil(self.changed / MAX_PAGE_SIZE)

    def snapshot(self, kind: str) -> int:
        return self.storage.get("snapshots", {}).get(kind, 0)

    def row(self) -> tuple[str, ...]:
        n = self.changed
        reads = self.snapshot("read") + self.snapshot("query")

        def per(value: int) -> str:
            return f"{value / n:.2f}"

        total = sum(sum(kinds.values()) for kinds in self.storage.values())
        return (self.name, f"{n:,}", f"{self.plytix.get('search', 0)}", f"{self.lower_bound}",
                ", ".join(f"{k} {v}" for k, v in sorted(self.plytix.items()) if k != "search") or "-",
                per(reads), per(self.snapshot("batch")), f"{self.tasks_created:,}", per(total),
                f"{self.wall_seconds:.2f}")


HEADER = ("scenario", "changed", "searches", "ceil(N/100)", "other Plytix", "snapshot reads/product",
          "snapshot batches/product", "tasks", "Table ops/product", "wall s")


def measure(products: int, changed: int, storage: str) -> list[ScenarioCost]:
    with scan_world(products, storage, 0.0, RULES_YAML) as deps:
        plytix_url = deps.settings.PLYTIX_BASE_URL
        baseline = run_full_scan(deps)
        if baseline.findings or baseline.errors:
            raise RuntimeError(f"the baseline sweep should only record snapshots: {baseline.to_json()}")
        ids = [p["id"] for p in httpx.get(f"{plytix_url}/_sandbox/products").json()["data"]
               if p.get("attributes", {}).get("workflow_stage") != "published"][:changed]
        if len(ids) < changed:
            raise RuntimeError(f"only {len(ids)} products can be changed; use a larger --products")
        results = []
        for name, change in (("unwatched attribute", {"material": "Recycled"}),
                             ("watched stage, no trigger", {"workflow_stage": "draft"}),
                             ("watched attribute -> review task", {"short_description": "Changed for the bench"})):
            for product_id in ids:
                response = httpx.patch(f"{plytix_url}/_sandbox/products/{product_id}",
                                       json={"attributes": change})
                response.raise_for_status()
            results.append(timed_incremental(deps, name, changed))
        return results


def timed_incremental(deps: ScanDeps, name: str, changed: int) -> ScenarioCost:
    plytix_before = Counter(deps.plytix.stats.snapshot()["calls"])
    deps.stores.stats.reset()
    started = time.perf_counter()
    report = run_incremental_scan(deps)
    wall = time.perf_counter() - started
    if report.errors or report.mode != "incremental":
        raise RuntimeError(f"the pass went wrong: {report.to_json()}")
    return ScenarioCost(name=name, changed=changed, products_read=report.products_seen,
                        plytix=dict(Counter(deps.plytix.stats.snapshot()["calls"]) - plytix_before),
                        storage=deps.stores.stats.as_dict(), tasks_created=report.done.get("create", 0),
                        wall_seconds=wall)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000, help="catalog size")
    parser.add_argument("--changed", type=int, default=1000, help="products changed before each pass")
    args = parser.parse_args(argv)
    if not 0 < args.changed <= args.products:
        parser.error("--changed must be between 1 and --products")
    print(f"Change feed: one incremental pass after {args.changed:,} of {args.products:,} products changed, "
          "stand-ins in their own process, tables in Azurite", flush=True)
    azurite = start_azurite(ROOT)
    try:
        results = measure(args.products, args.changed, azurite.connection_string)
    finally:
        azurite.stop()
    print(render(HEADER, [r.row() for r in results]))
    worst = max((r.snapshot("read") + r.snapshot("query")) / r.changed for r in results)
    writes = max(r.snapshot("batch") / r.changed for r in results)
    print(f"Goal (at most 1 snapshot read and 1 write per changed product, batched by partition): "
          f"{'met' if worst <= 1 and writes <= 1 else 'MISSED'} (reads {worst:.2f}, write batches {writes:.2f} "
          "per product; a batch writes up to 100 products of one partition).")


if __name__ == "__main__":
    main()
