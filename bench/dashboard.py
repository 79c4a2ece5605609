"""What opening GET /api/dashboard costs: storage requests per table, the page's size and the time to read
and render it (it makes no Plytix or Graph call: collect() is given no client), for stores holding N open links and N*5 audit rows in
the window shown, against Azurite.

Bounds: the links are one filtered query (ceil(open / 1000) pages: the service answers at most 1,000
entities a page), the audit rows one query from the first day shown (ceil(rows / 1000) pages), and the
outbox, runs and watermark one request each when small.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

from bench.table import render
from devhost.azurite import start_azurite
from shared.pages.dashboard import collect, page
from shared.plytix.ratelimit import RateLimiter
from shared.store import AuditEntry, Link, LinkState, TableStores

ROOT = Path(__file__).resolve().parent.parent
ROOT_PAGE = 1000  # entities per query page (Table service maximum)
RULES, PLANS = 5, 3
HEADER = ("open links", "audit rows", "links pages", "audit pages", "bound", "other requests", "page KiB",
          "read+render s")


@dataclass
class Result:
    links: int
    audit_rows: int
    requests: dict[str, dict[str, int]]
    page_bytes: int
    seconds: float

    def row(self) -> tuple[str, ...]:
        links_pages = self.requests.get("links", {}).get("query", 0)
        audit_pages = self.requests.get("audit", {}).get("query", 0)
        other = sum(n for table, kinds in self.requests.items() if table not in ("links", "audit")
                    for n in kinds.values())
        bound = f"{math.ceil(self.links / ROOT_PAGE)}+{math.ceil(self.audit_rows / ROOT_PAGE)}"
        return (f"{self.links:,}", f"{self.audit_rows:,}", str(links_pages), str(audit_pages), bound, str(other),
                f"{self.page_bytes / 1024:.1f}", f"{self.seconds:.2f}")


def _seed(stores: TableStores, links: int) -> int:
    now = datetime.now(timezone.utc)
    for n in range(links):
        stores.links.claim(Link(rule_id=f"rule-{n % RULES}", fingerprint=f"fp{n:08d}", state=LinkState.open,
                                product_id=f"p{n}", plan_id=f"plan-{n % PLANS}", task_id=f"t{n}"))
    entries = [AuditEntry("create" if n % 5 else "close", "bench", product_id=f"p{n % links}",
                          at=now - timedelta(hours=n % (13 * 24))) for n in range(links * 5)]
    stores.audit.append_many(entries)
    return len(entries)


def measure(links: int, connection: str) -> Result:
    prefix = f"b{links}t{int(time.time()) % 100000}"
    stores = TableStores.from_connection_string(connection, prefix)
    stores.ensure_tables()
    rows = _seed(stores, links)
    stores.stats.reset()
    started = time.perf_counter()
    html = page(collect(stores, poison=dict, budget=RateLimiter([(20, 10.0), (2000, 3600.0)]).usage(),
                        plytix_stats={}, environment="bench"))
    seconds = time.perf_counter() - started
    result = Result(links, rows, stores.stats.as_dict(), len(html.encode()), seconds)
    stores.close()
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args(argv)
    azurite = start_azurite(ROOT)
    try:
        results = [measure(size, azurite.connection_string) for size in args.sizes]
    finally:
        azurite.stop()
    print("GET /api/dashboard: storage requests, API calls and page size (Azurite)")
    print(render(HEADER, [r.row() for r in results]))

if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
