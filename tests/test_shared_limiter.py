"""The Plytix rate limit shared by every process through Table Storage (shared/plytix/shared_limiter.py),
against Azurite and the Plytix stand-in: three worker processes that share it get no 429 where three with
per-process limiters do."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from sandbox.plytix import PlytixSandbox
from shared.plytix.shared_limiter import SharedRateLimiter
from shared.store import TableStores
from tests.conftest import ROOT
from tests.test_plytix_client import FakeClock

LIMIT, WINDOW, CALLS, WORKERS = 4, 1.0, 10, 3


def _run_workers(server: Any, azurite: str, prefix: str, mode: str) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.shared_limit_worker", server.url, azurite, prefix, mode,
                               str(CALLS), str(LIMIT), str(WINDOW)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(WORKERS)]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    return outputs


def test_three_workers_sharing_the_limit_get_no_429(azurite: str, table_prefix: str) -> None:
    sandbox = PlytixSandbox(products=10, rate_per_10s=LIMIT, rate_windows=(WINDOW, 3600.0))
    with sandbox.serving() as server:
        outputs = _run_workers(server, azurite, table_prefix, "shared")
        stats = sandbox.stats()
    assert stats["rate_limited"] == 0, outputs
    assert all("rate_limited=0" in out for out in outputs)


def test_three_workers_each_spacing_only_its_own_calls_do_get_429s(azurite: str, table_prefix: str) -> None:
    """The control: the same load with per-process limiters overruns the account's limit."""
    sandbox = PlytixSandbox(products=10, rate_per_10s=LIMIT, rate_windows=(WINDOW, 3600.0))
    with sandbox.serving() as server:
        _run_workers(server, azurite, table_prefix, "local")
        assert sandbox.stats()["rate_limited"] > 0


def test_two_instances_book_slots_in_one_row(azurite: str, table_prefix: str) -> None:
    """Two limiters (two instances) on one table and one clock: together at most 2 calls per second and 3
    per hour (minute granularity), a hold set by one keeps the other back, and usage counts both."""
    stores = TableStores.from_connection_string(azurite, table_prefix)
    stores.ensure_tables()
    clock = FakeClock()
    clock.now = 1_000_000.0  # wall-clock seconds: whole minutes matter to the hourly count
    limits = [(2, 1.0), (3, 3600.0)]
    first, second = (SharedRateLimiter(stores.table("cursors"), limits, clock=clock, sleep=clock.sleep)
                     for _ in range(2))
    assert [first.reserve(), second.reserve(), first.reserve()] == [0.0, 0.0, 1.0]
    # The second-window counts the two calls begun; the hourly one counts per minute, so the call booked
    # for the next second is in it already.
    assert [(u.limit, u.used) for u in second.usage()] == [(2, 2), (3, 3)]
    hourly_wait = second.reserve()  # a fourth call: the hourly window (3) is full until its minute leaves
    assert hourly_wait > 3000
    assert second.reserve(max_wait=10) > 10  # too long: nothing booked
    clock.now += 4000
    second.hold(30)
    assert first.reserve() == 30.0
    stores.close()
