"""Bench (issue 14): what one updated and one closed task cost, in Graph calls and Table requests.

In-process stand-ins and Azurite. A first sweep creates a task per product with gaps. Then three more
sweeps, each measured: one with nothing changed (the pass's own overhead: listings, cursors), one after
people filled ONE of several missing attributes on U products (each task gets a checklist tick: an
update), one after they filled EVERY missing attribute on C other products (each task is closed). The
cost per action is (pass - overhead) / actions. Bounds (issue 14): Graph 1 per update (PATCH details with
the stored etag), 2 per close (PATCH task, PATCH details); Table requests 1 per update and per close,
with the pass's audit rows in batches per partition.

Run: python -m bench.action_cost [--products 2000] [--actions 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Sequence

from bench.scan_cost import ROOT
from bench.table import render
from devhost.azurite import start_azurite
from sandbox.base import RunningServer
from sandbox.graph import GraphSandbox
from sandbox.plytix import PlytixSandbox
from shared.scan import ScanDeps, run_full_scan
from shared.store import LinkState
from tests.scan_world import RULE_ID, RULES_YAML, build_deps, world_settings
from tests.test_scan import _fill

LISTINGS = {"list_plan_tasks", "list_buckets", "get_user", "get_plan"}


def measured_pass(deps: ScanDeps) -> tuple[Counter[str], int, dict[str, int]]:
    """(Graph calls by endpoint, Table requests, actions done) of one full sweep."""
    graph = Counter(deps.planner.stats.calls)
    storage = deps.stores.stats.count()
    report = run_full_scan(deps)
    return Counter(deps.planner.stats.calls) - graph, deps.stores.stats.count() - storage, dict(report.done)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000, help="catalog size")
    parser.add_argument("--actions", type=int, default=50, help="tasks updated, and tasks closed")
    args, _ = parser.parse_known_args(argv)
    print(f"Graph calls and Table requests per updated and per closed task ({args.products:,} products)", flush=True)
    azurite = start_azurite(ROOT)
    plytix, graph = PlytixSandbox(products=args.products, gap_rate=0.2), GraphSandbox()
    try:
        graph_server = RunningServer(graph.app)
        with plytix.serving() as plytix_server, tempfile.TemporaryDirectory(prefix="bench-actions-") as workdir:
            rules = Path(workdir) / "rules.yaml"
            rules.write_text(RULES_YAML)
            deps = build_deps(world_settings(plytix_server.url, graph_server.url, azurite.connection_string,
                                             "bench" + uuid.uuid4().hex[:10], rules, MAX_TASKS_PER_RUN=100_000,
                                             GROUP_THRESHOLD=10_000))
            run_full_scan(deps)
            links = [link for link in deps.stores.links.list_rule(RULE_ID)
                     if link.state is LinkState.open and link.data.get("kind") != "group" and link.product_id]
            several = [link for link in links if len(link.data["missing"]) >= 2][:args.actions]
            others = [link for link in links if link not in several][:args.actions]
            overhead = measured_pass(deps)
            for link in several:
                plytix.edit_product(str(link.product_id), attributes=_fill(plytix, link.data["missing"][:1]))
            updates = measured_pass(deps)
            for link in others:
                plytix.edit_product(str(link.product_id), attributes=_fill(plytix, link.data["missing"]))
            closes = measured_pass(deps)
            deps.plytix.close()
            deps.planner.close()
            deps.stores.close()
    finally:
        graph_server.stop()
        azurite.stop()
    rows = []
    for label, (calls, storage, done), count, graph_bound in (("update (checklist tick)", updates, len(several), 1),
                                                              ("close", closes, len(others), 2)):
        extra_graph = sum(calls.values()) - sum(overhead[0].values())
        by_endpoint = ", ".join(f"{name} {n}" for name, n in sorted(calls.items()) if name not in LISTINGS)
        rows.append((label, f"{count}", f"{done}", by_endpoint, f"{extra_graph / count:.2f}", f"{graph_bound}",
                     f"{(storage - overhead[1]) / count:.2f}", "1"))
    print(render(("action", "tasks", "done", "Graph calls (not listings)", "Graph/task", "bound",
                  "Table requests/task", "bound"), rows))
    print(f"Pass overhead with nothing to do: Graph {dict(overhead[0])}, Table requests {overhead[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
