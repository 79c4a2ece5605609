"""`python -m devhost [--host H] [--port P] [--no-timers] [--no-queues] [--app module:attr]`

Order matters and follows `func start`: local.settings.json first (environment variables win), then
stand-ins for the backends the settings do not name (see local_services), then the app is imported and
indexed, so settings are in place before function_app reads them. SIGINT and SIGTERM stop it cleanly:
running invocations finish, sandboxes and Azurite stop.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Optional, Sequence

from devhost.host import DEFAULT_FUNCTION_KEY, DevHost
from devhost.host_config import HostConfigError, HostOptions
from devhost.index import FunctionIndexError
from devhost.local_services import LocalServices
from devhost.local_settings import LocalSettings, LocalSettingsError
from devhost.queues import StorageConnectionError
from devhost.routes import RouteError

log = logging.getLogger("devhost")
_STARTUP_ERRORS = (FunctionIndexError, HostConfigError, LocalSettingsError, RouteError, StorageConnectionError,
                   RuntimeError, ImportError, OSError)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=(
        "Serve a FunctionApp's HTTP, timer and queue functions locally, like `func start`, against the "
        "sandboxes and Azurite unless the settings name real accounts."))
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: local.settings.json Host.LocalHttpPort, else 7071)")
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    parser.add_argument("--no-queues", action="store_true", help="do not poll queue triggers")
    parser.add_argument("--queue-poll-interval", type=float, default=1.0, metavar="SECONDS",
                        help="wait between polls of an empty queue (default 1)")
    return parser.parse_args(argv)


def load_app(spec: str) -> Any:
    """Import `module:attribute` from the current directory (the app root)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ImportError(f"--app must look like module:attribute, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"{module_name} has no attribute {attribute!r}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK logs every queue poll at INFO
    root = Path.cwd()
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    services: Optional[LocalServices] = None
    host: Optional[DevHost] = None
    try:
        local = LocalSettings.load(root / "local.settings.json")
        applied = local.apply_to(os.environ)
        if applied:
            log.info("local.settings.json: set %s", ", ".join(sorted(applied)))
        services = LocalServices.start_missing(os.environ, root)
        options = HostOptions.from_host_json(root / "host.json", queue_poll_interval=args.queue_poll_interval)
        host = DevHost(load_app(args.app), host=args.host, port=args.port or local.local_http_port or 7071,
                       timers=not args.no_timers, queues=not args.no_queues, options=options, app_root=root)
        host.start()
        _print_banner(host, services)
        stop_requested.wait()
        log.info("stopping")
        return 0
    except _STARTUP_ERRORS as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if host is not None:
            host.stop()
        if services is not None:
            services.stop()


def _print_banner(host: DevHost, services: LocalServices) -> None:
    print("\nFunctions:")
    for line in host.describe():
        print(f"    {line}")
    for started in services.started:
        print(f"Local stand-in: {started}")
    if host.function_key == DEFAULT_FUNCTION_KEY:
        print(f"Key for function/admin routes (?code= or x-functions-key): {DEFAULT_FUNCTION_KEY}")
    else:
        print("Key for function/admin routes: the value of DEVHOST_FUNCTION_KEY")
    print("Stop with Ctrl+C.\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
