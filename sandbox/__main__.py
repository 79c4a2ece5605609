"""`python -m sandbox`: the Plytix and Graph stand-ins as real HTTP servers on 127.0.0.1, until Ctrl+C.

Prints the fixed development credentials and the URLs to put in the app settings. The admin API under
/_sandbox/ on both servers inspects state, edits products as in the Plytix UI, completes or deletes tasks
as in Planner, and injects faults (see sandbox/base.py, sandbox/plytix.py, sandbox/graph.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional, Sequence

from sandbox.base import RunningServer
from sandbox.graph import DEV_TOKEN, GraphSandbox
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID, USER_IDS
from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD, PlytixSandbox


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1; keep it local)")
    parser.add_argument("--plytix-port", type=int, default=8801, help="Plytix stand-in port (default 8801)")
    parser.add_argument("--graph-port", type=int, default=8802, help="Graph stand-in port (default 8802)")
    parser.add_argument("--products", type=int, default=200, help="catalog size (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the catalog and ids (default 7)")
    parser.add_argument("--gap-rate", type=float, default=0.1,
                        help="share of products with missing data (default 0.1)")
    parser.add_argument("--token-lifetime", type=float, default=900, help="Plytix token seconds (default 900)")
    parser.add_argument("--rate-per-10s", type=int, default=None, help="Plytix 10-second window (default off)")
    parser.add_argument("--rate-per-hour", type=int, default=None, help="Plytix hourly window (default off)")
    parser.add_argument("--plytix-latency-ms", type=float, default=0,
                        help="hold back each Plytix answer this long (default 0)")
    parser.add_argument("--graph-latency-ms", type=float, default=0,
                        help="hold back each Graph answer this long (default 0)")
    parser.add_argument("--latency-jitter-ms", type=float, default=0,
                        help="plus or minus up to this much, uniformly, on each delayed answer (default 0)")
    parser.add_argument("--rich-search", action="store_true",
                        help="Plytix search also lists and returns id, product_family_id and product_type "
                             "(default: only the documented fields, as a strict account behaves)")
    args = parser.parse_args(argv)
    if args.products < 0 or not 0 <= args.gap_rate <= 1:
        parser.error("--products must be >= 0 and --gap-rate between 0 and 1")
    if not all(0 <= ms <= 60_000 for ms in (args.plytix_latency_ms, args.graph_latency_ms, args.latency_jitter_ms)):
        parser.error("--plytix-latency-ms, --graph-latency-ms and --latency-jitter-ms must be 0 to 60000")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    plytix = PlytixSandbox(products=args.products, seed=args.seed, token_lifetime=args.token_lifetime,
                           rate_per_10s=args.rate_per_10s, rate_per_hour=args.rate_per_hour, gap_rate=args.gap_rate,
                           rich_search=args.rich_search)
    graph = GraphSandbox(seed=args.seed)
    for app, ms in ((plytix.app, args.plytix_latency_ms), (graph.app, args.graph_latency_ms)):
        app.latency.set(ms, args.latency_jitter_ms if ms else 0)
    servers = [RunningServer(plytix.app, args.host, args.plytix_port),
               RunningServer(graph.app, args.host, args.graph_port)]
    plytix_url, graph_url = servers[0].url, servers[1].url
    search = "rich" if args.rich_search else "strict"
    print(f"Plytix stand-in: {plytix_url}  ({args.products} products, seed {args.seed}, {search} search)")
    print(f"  PLYTIX_BASE_URL={plytix_url} PLYTIX_AUTH_URL={plytix_url}")
    print(f"  PLYTIX_API_KEY={DEV_API_KEY} PLYTIX_API_PASSWORD={DEV_API_PASSWORD}  (development only)")
    print(f"Graph stand-in:  {graph_url}/v1.0  (bearer token {DEV_TOKEN!r}, development only)")
    print(f"  GRAPH_BASE_URL={graph_url}/v1.0 GRAPH_AUTH_MODE=development")
    print(f"  plan 'Product data': {PRODUCT_DATA_PLAN_ID}; users: {', '.join(USER_IDS)}")
    print("Stop with Ctrl+C.", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
