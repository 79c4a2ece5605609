"""`python -m bench` (make bench): every bench in turn: Plytix search calls, the full scan, the cost per
updated and closed task, a 200,000-product sweep, a full sweep under the published rate limit, a
100,000-product sweep into one plan, 500 creates at 100 ms of Graph latency, a sweep in windows, the
change feed, then job 5's channel webhook and feed check, job 4's watcher and notification endpoint, the
operations page's storage requests, health under probe load, job 6's duplicate index, and job 7's project
refresh.

Arguments (`--sizes 1000 10000`) are passed to each bench unchanged.
"""

from __future__ import annotations

import sys
from typing import Sequence

from bench import (
    action_cost,
    change_feed_cost,
    channels,
    concurrent_creates,
    dashboard,
    health_load,
    plan_overflow,
    plytix_calls,
    project_refresh,
    quality_index,
    rate_limited_sweep,
    scan_cost,
    segmented_sweep,
    writeback,
)


def main(argv: Sequence[str] | None = None) -> None:
    for bench in (plytix_calls, scan_cost):
        bench.main(argv)
        print()
    # Issue 12's scale figure: 200,000 products at 1% gaps (at 5% one plan meets Planner's active-task limit).
    scan_cost.main(["--sizes", "200000", "--gap-rate", "0.01"])
    print()
    action_cost.main([])  # its own arguments: catalog size and actions
    print()
    rate_limited_sweep.main([])  # its own arguments: catalog size (10,000: about 5 minutes at the limit)
    print()
    plan_overflow.main([])  # its own arguments: catalog size
    print()
    concurrent_creates.main(["--workers", "1", "8", "16"])  # its own arguments: catalog size, concurrency
    print()
    segmented_sweep.main([])  # its own arguments: catalog size and window size
    print()
    change_feed_cost.main([])  # its own arguments: catalog size and changed products
    print()
    channels.main([])  # its own arguments: webhook rate and duration
    print()
    writeback.main([])  # its own arguments: plan sizes, notification rate and duration
    print()
    dashboard.main([])  # its own arguments: open links
    print()
    health_load.main([])  # its own arguments: request rate and duration
    print()
    quality_index.main([])  # its own arguments: catalog sizes of job 6's duplicate index
    print()
    project_refresh.main([])  # its own arguments: catalog size (50 groups)


if __name__ == "__main__":
    main(sys.argv[1:])
