"""One worker process of tests/test_shared_limiter.py: `calls` Plytix calls through either the limiter
shared in Table Storage or a per-process one. Prints the 429s this client met."""

from __future__ import annotations

import sys

from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD
from shared.plytix import PlytixClient
from shared.plytix.ratelimit import Limiter, RateLimiter
from shared.plytix.shared_limiter import SharedRateLimiter
from shared.store import TableStores


def main(base_url: str, storage: str, prefix: str, mode: str, calls: int, limit: int, window: float) -> None:
    stores = TableStores.from_connection_string(storage, prefix)
    stores.ensure_tables()
    margin = 0.15  # the slot-to-arrival time, as PLYTIX_RATE_MARGIN_SECONDS
    limiter: Limiter = (SharedRateLimiter(stores.table("cursors"), [(limit, window)], margin=margin)
                        if mode == "shared" else RateLimiter([(limit, window)], margin=margin))
    with PlytixClient(base_url=base_url, auth_url=base_url, api_key=DEV_API_KEY, api_password=DEV_API_PASSWORD,
                      limiter=limiter, backoff_base=0.05, max_retries=20) as client:
        for _ in range(calls):
            client.count()
        print(f"rate_limited={client.stats.rate_limited}", flush=True)
    stores.close()


if __name__ == "__main__":
    url, conn, table_prefix, how, n, lim, win = sys.argv[1:]
    main(url, conn, table_prefix, how, int(n), int(lim), float(win))
