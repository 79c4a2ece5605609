"""Bench (issue 12 §2): Table operations and peak memory of job 6's duplicate index as the catalog grows.

The `data_quality` rule's per-product step (DataQualityRule.evaluate) runs over a synthetic catalog of
`--sizes` products, made one at a time by a generator (so the catalog itself is never in memory), with
1% duplicate SKUs (case variants), 1% duplicate GTINs and 0.5% invalid GTIN check digits; then the
pass's group step (pass_findings). Tables in Azurite. Plytix is left out on purpose: its cost is the
feed's and is measured by bench.scan_cost; here only the index is measured.

Per size it prints, for a first pass (empty index) and a second pass over the unchanged catalog:
Table requests per product, the duplicate groups found, and the peak Python heap of the pass
(tracemalloc: what the pass allocates and holds at once, not the interpreter). Goal: the peak does not
grow with the catalog (flat memory), and an unchanged catalog costs one read per product.

Run: python -m bench.quality_index [--sizes 1000 5000]
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from typing import Iterator, Sequence

from bench.scan_cost import ROOT
from bench.table import render
from devhost.azurite import start_azurite
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from shared.rules import build_rules, parse_rules
from shared.rules.data_quality import DataQualityRule, expected_check_digit
from shared.rules.product_view import ProductView
from shared.store import TableStores

RULES_YAML = f"""\
version: 1
defaults: {{plan_id: {PRODUCT_DATA_PLAN_ID}, bucket: Data quality, owner: data.steward@contoso.example}}
rules:
  - id: dq
    type: data_quality
    name: Data quality
    duplicates: {{sku: true, gtin: true}}
    gtin_check_digit: true
"""
HEADER = ("products", "pass", "table requests", "per product", "groups", "checks failed", "peak heap MB", "seconds")


def catalog(size: int, seed: int = 12) -> Iterator[ProductView]:
    """Products one at a time; duplicates point back at earlier numbers, so no list of them is kept."""
    rng = random.Random(seed)
    for number in range(size):
        sku_number, gtin_number = number, number
        if number and rng.random() < 0.01:
            sku_number = rng.randrange(number)
        if number and rng.random() < 0.01:
            gtin_number = rng.randrange(number)
        body = f"40{gtin_number:010d}"
        check = expected_check_digit(body)
        if rng.random() < 0.005:
            check = (check + 1) % 10
        sku = f"SKU-{sku_number:07d}" if sku_number == number else f"sku {sku_number:07d}"
        yield ProductView.from_plytix({"id": f"p{number:09d}", "sku": sku, "label": f"Product {number}",
                                       "status": "Draft", "gtin": f"{body}{check}", "product_level": 0}, {})


def one_pass(rule: DataQualityRule, stores: TableStores, size: int) -> tuple[int, int, int, float, float]:
    """(table requests, duplicate groups, products failing a check, peak heap MB, seconds)."""
    stores.stats.reset()
    tracemalloc.start()
    started = time.perf_counter()
    rule.attach_stores(stores)
    for view in catalog(size):
        rule.evaluate(view, "bench")
    findings = rule.pass_findings("bench", lambda product_id: f"https://plytix.example/{product_id}")
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    groups = sum(1 for f in findings if "duplicate" in f.title and "beyond" not in f.title)
    digest = next((getattr(f, "count", 0) for f in findings if "beyond" in f.title), 0)
    failed = sum(getattr(f, "count", 0) for f in findings if "GTIN (GS1" in f.title)
    return stores.stats.count(), groups + digest, failed, peak / 2**20, seconds


def measure(sizes: Sequence[int], connection_string: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for size in sizes:
        with TableStores.from_connection_string(connection_string, f"bq{size}") as stores:
            stores.ensure_tables()
            (rule,) = build_rules(parse_rules(RULES_YAML))
            assert isinstance(rule, DataQualityRule)
            for name in ("first (empty index)", "second (unchanged)"):
                requests, groups, failed, peak, seconds = one_pass(rule, stores, size)
                rows.append((f"{size:,}", name, f"{requests:,}", f"{requests / size:.2f}", f"{groups:,}",
                             f"{failed:,}", f"{peak:.1f}", f"{seconds:.0f}"))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000], help="catalog sizes")
    args = parser.parse_args(argv)
    print("Job 6 duplicate index: the data_quality rule's per-product step and group step over a synthetic "
          "catalog, tables in Azurite", flush=True)
    azurite = start_azurite(ROOT)
    try:
        rows = measure(args.sizes, azurite.connection_string)
    finally:
        azurite.stop()
    print(render(HEADER, rows))
    first = [float(row[6]) for row in rows[::2]]
    print(f"Goal (peak heap flat as the catalog grows): first-pass peak at the largest size / the smallest "
          f"{first[-1] / first[0]:.2f} for {args.sizes[-1] / args.sizes[0]:.0f} times the products; an unchanged "
          "catalog: 1 read per product.")


if __name__ == "__main__":
    main()
