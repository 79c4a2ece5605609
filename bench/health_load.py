"""Bench (issue 14): `GET /api/health` under the load of Azure's probes and monitors, on the local host.

`python -m devhost` (its own process, like the worker) serves function_app against the stand-ins and
Azurite. One deep request fills the health cache; then requests leave at 50 per second (open loop: request
i leaves at start + i/50 s whether or not earlier ones were answered) and each answer is timed, then 50
one after another. It also counts the Plytix and Graph calls the load cost: the cached answer should cost
none (HEALTH_CACHE_SECONDS, default 60). Goal: p99 under 100 ms at 50 requests/s.

Run: python -m bench.health_load [--seconds 10] [--rate 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import httpx

from bench.channels import ack_table, local_host, one_at_a_time, send_at_rate, wait_until_answering
from bench.scan_cost import ROOT, sandbox_process
from devhost.azurite import start_azurite
from tests.scan_world import RULES_YAML


def upstream_calls(plytix_url: str, graph_url: str) -> int:
    """Calls the stand-ins have answered so far (their own call counters, read over HTTP)."""
    return sum(sum(httpx.get(f"{url}/_sandbox/calls", timeout=10).json()["calls"].values())
               for url in (plytix_url, graph_url))


@dataclass(frozen=True)
class HealthLoad:
    at_rate: list[float]  # milliseconds per answer, sent open loop at the rate
    sequential: list[float]  # milliseconds per answer, one after another
    upstream_calls: int  # Plytix and Graph calls the whole load cost


def measure(storage: str, rate: float, seconds: float, sequential: int = 50) -> HealthLoad:
    with sandbox_process(200) as (plytix_url, graph_url), \
            tempfile.TemporaryDirectory(prefix="bench-health-") as workdir:
        rules = Path(workdir) / "rules.yaml"
        rules.write_text(RULES_YAML)
        with local_host(plytix_url, graph_url, storage, rules) as base:
            url = f"{base}/health"
            wait_until_answering(url, ready_status=200, method="GET")
            httpx.get(url, params={"deep": "true"}, timeout=60).raise_for_status()
            before = upstream_calls(plytix_url, graph_url)

            def get(client: httpx.Client, index: int) -> None:
                response = client.get(url)
                if response.status_code != 200 or not response.json()["cached"]:
                    raise RuntimeError(f"health {index}: {response.status_code} {response.text[:200]}")

            at_rate = send_at_rate(get, rate, seconds)
            one_by_one = one_at_a_time(get, first_index=0, count=sequential)
            return HealthLoad(at_rate, one_by_one, upstream_calls(plytix_url, graph_url) - before)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send requests")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    args, _ = parser.parse_known_args(argv)  # `python -m bench` hands every bench the same arguments
    print("GET /api/health under probe load; local host, stand-ins and Azurite in their own processes", flush=True)
    azurite = start_azurite(ROOT)
    try:
        load = measure(azurite.connection_string, args.rate, args.seconds)
    finally:
        azurite.stop()
    print(f"\nHealth answers at {args.rate:.0f} requests/s for {args.seconds:.0f} s, from the cache "
          f"(goal p99 < 100 ms)")
    print(ack_table(args.rate, load.at_rate, load.sequential))
    print(f"Plytix and Graph calls made by those {len(load.at_rate) + len(load.sequential)} requests: "
          f"{load.upstream_calls} (goal 0)")


if __name__ == "__main__":
    main(sys.argv[1:])
