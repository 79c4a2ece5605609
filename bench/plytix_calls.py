"""Bench: what a full catalog scan costs in Plytix API calls, against the lower bound.

Plytix has no list endpoint and pages hold at most 100 products, so streaming N products can never take
fewer than ceil(N / 100) search calls (10 per 1,000 products). This bench seeds in-process stand-ins of
1,000 and 10,000 products, streams every product with 10 attributes through `PlytixClient`, and prints
the calls made, the ratio to that bound, the token fetches and the wall time. The last column is the
time the same scan needs at the smallest published rate limit (20 requests per 10 s), which is what
decides how a 100k catalog must be split across function invocations.

Run: python -m bench.plytix_calls [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Sequence

from bench.table import render as render_table
from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD, PlytixSandbox
from shared.plytix import MAX_PAGE_SIZE, PlytixClient

# About what the enabled rules need per product in one pass (the feed asks for their union).
ATTRIBUTES = ("label", "status", "modified", "attributes.workflow_stage", "attributes.description_en",
              "attributes.description_de", "attributes.description_fr", "attributes.images",
              "attributes.amazon_title", "attributes.brand")
FREE_TIER_PER_SECOND = 20 / 10  # "20 req/10 s" (API_FACTS.md, published free-tier figure)


@dataclass(frozen=True)
class ScanResult:
    products: int
    search_calls: int
    token_fetches: int
    wall_seconds: float

    @property
    def lower_bound(self) -> int:
        return math.ceil(self.products / MAX_PAGE_SIZE)

    def row(self) -> tuple[str, ...]:
        return (f"{self.products:,}", f"{self.search_calls:,}", f"{self.search_calls * 1000 / self.products:.1f}",
                f"{self.lower_bound:,}", f"{self.search_calls / self.lower_bound:.2f}", str(self.token_fetches),
                f"{self.wall_seconds:.2f}", f"{self.search_calls / FREE_TIER_PER_SECOND:.0f}")


HEADER = ("products", "search calls", "calls/1k", "lower bound", "ratio", "token fetches", "wall s",
          "s at 20/10s")


def scan(products: int) -> ScanResult:
    """Seed a stand-in of `products` products and stream all of them through the client."""
    sandbox = PlytixSandbox(products=products, seed=7)
    with sandbox.serving() as server, PlytixClient(
            base_url=server.url, auth_url=server.url, api_key=DEV_API_KEY, api_password=DEV_API_PASSWORD,
            rate_per_10s=1_000_000, rate_per_hour=100_000_000) as client:
        started = time.perf_counter()
        seen = sum(1 for _ in client.search([], ATTRIBUTES))
        wall = time.perf_counter() - started
    if seen != products:
        raise RuntimeError(f"streamed {seen} of {products} products")
    return ScanResult(products, client.stats.calls["search"], client.stats.token_fetches, wall)


def render(results: Sequence[ScanResult]) -> str:
    return render_table(HEADER, [r.row() for r in results])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000], help="catalog sizes to scan")
    args = parser.parse_args(argv)
    print(f"Plytix full scan, {len(ATTRIBUTES)} attributes per product, page size {MAX_PAGE_SIZE}")
    print(render([scan(size) for size in args.sizes]))


if __name__ == "__main__":
    main()
