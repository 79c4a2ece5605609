"""Bench (job 5): how fast the channel webhook answers, and what checking a channel feed costs.

1. Webhook acknowledgement: `python -m devhost` (its own process, like the worker) serves function_app
   against Azurite; this process sends distinct, valid deliveries at 50 per second (open loop: request i
   leaves at start + i/50 s, whether or not earlier ones were answered) and times each answer. Every
   delivery does the real work of the webhook: auth, validation, the claim in Table Storage, the queue
   message. Goal: p99 under 100 ms.
2. Feed check: the Plytix stand-in (its own process) publishes a CSV feed of its catalog plus filler rows
   up to 5 MB and 50 MB; `run_feed_check` reads and checks it row by row. Rows per second from a timed
   run; peak traced memory (tracemalloc) from a separate, identical run, since tracing slows the check.

Run: python -m bench.channels [--seconds 10] [--rate 50]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import httpx

from bench.scan_cost import ROOT, measuring_peak_memory, sandbox_process
from bench.table import render
from devhost.azurite import free_port, start_azurite
from shared.channels.check import FeedCheckReport, run_feed_check
from shared.channels.delivery import Delivery
from tests.channel_world import channel_rules
from tests.scan_world import build_deps, devhost_env, world_settings

SECRET = "bench-webhook-secret"
ACK_GOAL_MS = 100.0
FEED_SIZES_MB = (5, 50)
ROW_BYTES = 5_000
COLUMNS = {"sku": "sku", "item_name": "attributes.amazon_title", "gtin": "gtin",
           "description": "attributes.description_en"}
RULES = channel_rules("{attribute: amazon_title, column: item_name, max_length: 200}",
                      "{column: gtin, pattern: '\\d{8}|\\d{12,14}'}")


# post(client, index) sends request number `index` and raises unless the answer is the expected one
Post = Callable[[httpx.Client, int], None]


def webhook_latencies(storage: str, plytix_url: str, graph_url: str, rate: float,
                      seconds: float) -> tuple[list[float], list[float]]:
    """Milliseconds to the 202 of each delivery sent at `rate` per second for `seconds`, then of 50 sent
    one after another."""
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as workdir:
        rules = Path(workdir) / "rules.yaml"
        rules.write_text(RULES)
        with local_host(plytix_url, graph_url, storage, rules, PLYTIX_WEBHOOK_SECRET=SECRET,
                        CHANNEL_FEED_ALLOWED_HOSTS="127.0.0.1") as base:
            url = f"{base}/plytix/channel-webhook"
            wait_until_answering(url, ready_status=401)

            def post(client: httpx.Client, index: int) -> None:
                body = {"channel_name": "amazon", "channel_processing_status": "success",
                        "feed_url": f"{plytix_url}/channels/amazon/feed", "processed_products": index}
                response = client.post(url, json=body, headers={"X-Plytix-Webhook-Secret": SECRET})
                if response.status_code != 202 or response.json()["status"] != "queued":
                    raise RuntimeError(f"delivery {index}: {response.status_code} {response.text}")

            return send_at_rate(post, rate, seconds), one_at_a_time(post, first_index=1_000_000)


@contextmanager
def local_host(plytix_url: str, graph_url: str, storage: str, rules: Path, **settings: str) -> Iterator[str]:
    """`python -m devhost` (its own process, like the worker) without timers or queue triggers, so only
    the HTTP answers are measured; yields its /api root."""
    port = free_port()
    env = devhost_env(plytix_url, graph_url, storage, f"bench{port}", rules, FULL_SWEEP_SCHEDULE="0 0 2 * * *",
                      INCREMENTAL_SCHEDULE="0 */5 * * * *", COMPLETION_SCHEDULE="0 */1 * * * *",
                      DEVHOST_FUNCTION_KEY="bench", **settings)
    host = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--no-timers", "--no-queues"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        host.terminate()
        host.wait(timeout=60)


def wait_until_answering(url: str, *, ready_status: int, deadline_s: float = 60, method: str = "POST") -> None:
    """Poll `url` (a POST with an empty JSON body, or a GET) until it answers `ready_status` (the app is
    imported)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            body: Optional[dict[str, Any]] = {} if method == "POST" else None
            if httpx.request(method, url, json=body, timeout=2).status_code == ready_status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a starting process's port with a deadline
    raise RuntimeError("the local host did not answer within 60 s")


def send_at_rate(post: Post, rate: float, seconds: float) -> list[float]:
    """Milliseconds to each answer of `rate * seconds` requests sent open loop: request i leaves at
    start + i / rate, whether or not earlier ones were answered."""
    total = int(rate * seconds)
    latencies: list[Optional[float]] = [None] * total
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
    post(client, -1)  # the first call imports the app
    start = time.monotonic() + 0.5
    lock = threading.Lock()

    def send(index: int) -> None:
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the open-loop schedule: this request's departure time
        began = time.perf_counter()
        post(client, index)
        elapsed = (time.perf_counter() - began) * 1000
        with lock:
            latencies[index] = elapsed

    with ThreadPoolExecutor(max_workers=48) as pool:
        list(pool.map(send, range(total)))
    client.close()
    return [value for value in latencies if value is not None]


def one_at_a_time(post: Post, *, first_index: int, count: int = 50) -> list[float]:
    """Requests sent one after another: the cost of one answer without queueing behind others."""
    latencies = []
    with httpx.Client(timeout=30) as client:
        for index in range(first_index, first_index + count):
            began = time.perf_counter()
            post(client, index)
            latencies.append((time.perf_counter() - began) * 1000)
    return latencies


def feed_check(plytix_url: str, graph_url: str, storage: str, size_mb: int, *, traced: bool) -> tuple[FeedCheckReport, float, int]:
    """(report, wall seconds, peak traced bytes or 0) of one check of a feed of about `size_mb` MB."""
    filler = size_mb * 1_000_000 // ROW_BYTES
    httpx.post(f"{plytix_url}/_sandbox/channels/amazon", json={
        "format": "csv", "columns": COLUMNS, "filler_rows": filler, "filler_bytes": ROW_BYTES}).raise_for_status()
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as workdir:
        rules = Path(workdir) / "rules.yaml"
        rules.write_text(RULES)
        settings = world_settings(plytix_url, graph_url, storage, f"benchfeed{size_mb}{int(traced)}", rules,
                                  CHANNEL_FEED_ALLOWED_HOSTS="127.0.0.1", PLYTIX_RATE_PER_10S=1000,
                                  PLYTIX_RATE_PER_HOUR=1_000_000)
        deps = build_deps(settings)
        delivery = Delivery("amazon", "success", f"{plytix_url}/channels/amazon/feed", None, None)
        try:
            if traced:
                with measuring_peak_memory() as peak:
                    report = run_feed_check(deps, delivery)
                return report, report.seconds, peak.traced_bytes
            began = time.perf_counter()
            report = run_feed_check(deps, delivery)
            return report, time.perf_counter() - began, 0
        finally:
            deps.plytix.close()
            deps.planner.close()
            deps.stores.close()


def ack_table(rate: float, at_rate: Sequence[float], sequential: Sequence[float]) -> str:
    """The acknowledgement table (at `rate` per second, and one at a time) and whether p99 met the goal."""
    table = render(("sent", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"),
                   [latency_row(f"{rate:.0f}/s", at_rate), latency_row("one at a time", sequential)])
    return f"{table}\nGoal {'met' if percentile(at_rate, 0.99) < ACK_GOAL_MS else 'MISSED'}."


def latency_row(label: str, values: Sequence[float]) -> tuple[str, ...]:
    return (label, f"{len(values)}", f"{percentile(values, 0.50):.1f}", f"{percentile(values, 0.90):.1f}",
            f"{percentile(values, 0.99):.1f}", f"{max(values):.1f}", f"{statistics.fmean(values):.1f}")


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send webhooks")
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second")
    args, _ = parser.parse_known_args(argv)  # `python -m bench` hands every bench the same arguments
    print("Job-5 channel webhook and feed check; local host, stand-ins and Azurite in their own processes",
          flush=True)
    azurite = start_azurite(ROOT)
    try:
        with sandbox_process(200) as (plytix_url, graph_url):
            latencies, sequential = webhook_latencies(azurite.connection_string, plytix_url, graph_url, args.rate, args.seconds)
            rows = []
            for size in FEED_SIZES_MB:
                report, wall, _ = feed_check(plytix_url, graph_url, azurite.connection_string, size, traced=False)
                traced, _, peak = feed_check(plytix_url, graph_url, azurite.connection_string, size, traced=True)
                rows.append((f"{report.bytes / 1e6:.1f}", f"{report.rows:,}", f"{report.failing_rows}",
                             f"{wall:.2f}", f"{report.rows / wall:,.0f}", f"{report.bytes / 1e6 / wall:.1f}",
                             f"{peak / 2**20:.1f}"))
                print(f"  checked a {size} MB feed", flush=True)
    finally:
        azurite.stop()
    print(f"\nWebhook acknowledgement at {args.rate:.0f} requests/s for {args.seconds:.0f} s (distinct deliveries, "
          f"each claimed in Table Storage and queued; goal p99 < {ACK_GOAL_MS:.0f} ms)")
    print(ack_table(args.rate, latencies, sequential))
    print("\nFeed check (CSV, catalog rows plus filler rows; memory traced in a separate, identical run)")
    print(render(("feed MB", "rows", "failing rows", "wall s", "rows/s", "MB/s", "peak traced MiB"), rows))


if __name__ == "__main__":
    main(sys.argv[1:])
