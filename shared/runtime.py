"""Build the process-wide collaborators (clients, stores, rules) from settings, once per process.

Why cached: a Functions worker process serves many invocations. The Plytix token, the Graph event
loop and the HTTP connection pools are worth keeping between them; the rules file is re-read when its
content changes, so an edited file takes effect without a restart.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

from shared.completion_watcher import WatcherDeps
from shared.planner import PlannerClient
from shared.plytix import PlytixClient
from shared.plytix.shared_limiter import SharedRateLimiter
from shared.queues import AppQueues
from shared.rules import RulesFile, build_rules, load_rules
from shared.scan import ScanDeps
from shared.settings import Settings, get_settings
from shared.store import TableStores

_lock = threading.Lock()
_clients: Optional[tuple[PlytixClient, PlannerClient, TableStores]] = None
_rules: Optional[tuple[float, RulesFile]] = None
_queues: Optional[AppQueues] = None


def rules_path(settings: Settings) -> Path:
    """RULES_FILE, relative paths taken from the app root (where function_app.py lives)."""
    path = Path(settings.RULES_FILE)
    return path if path.is_absolute() else Path(__file__).resolve().parent.parent / path


def current_rules(settings: Settings) -> RulesFile:
    """The validated rules file, reloaded when its modification time changes."""
    global _rules
    path = rules_path(settings)
    mtime = path.stat().st_mtime
    with _lock:
        if _rules is None or _rules[0] != mtime:
            _rules = (mtime, load_rules(path))
        return _rules[1]


def clients(settings: Settings) -> tuple[PlytixClient, PlannerClient, TableStores]:
    """The Plytix client, Planner client and stores for this process (tables created on first use)."""
    global _clients
    with _lock:
        if _clients is None:
            stores = TableStores.from_settings(settings)
            stores.ensure_tables()
            _clients = (plytix_client(settings, stores), PlannerClient.from_settings(settings), stores)
        return _clients


def plytix_client(settings: Settings, stores: TableStores) -> PlytixClient:
    """The Plytix client, with the rate limit shared through storage when PLYTIX_SHARED_RATE_LIMIT is on
    (shared/plytix/shared_limiter.py), else spaced per process."""
    if not settings.PLYTIX_SHARED_RATE_LIMIT:
        return PlytixClient.from_settings(settings)
    limiter = SharedRateLimiter(stores.table("cursors"),
                                [(settings.PLYTIX_RATE_PER_10S, 10.0), (settings.PLYTIX_RATE_PER_HOUR, 3600.0)],
                                margin=settings.PLYTIX_RATE_MARGIN_SECONDS)
    return PlytixClient.from_settings(settings, limiter=limiter)


def queues(settings: Settings) -> AppQueues:
    """The app's queue client for this process (ValueError when no queue endpoint is configured)."""
    global _queues
    with _lock:
        if _queues is None:
            _queues = AppQueues.from_settings(settings)
        return _queues


def scan_deps(settings: Optional[Settings] = None) -> ScanDeps:
    settings = settings or get_settings()
    rules_file = current_rules(settings)
    plytix, planner, stores = clients(settings)
    return ScanDeps(settings=settings, rules_file=rules_file, rules=build_rules(rules_file), plytix=plytix,
                    planner=planner, stores=stores)


def watcher_deps(settings: Optional[Settings] = None) -> WatcherDeps:
    settings = settings or get_settings()
    plytix, planner, stores = clients(settings)
    return WatcherDeps(settings=settings, rules_file=current_rules(settings), plytix=plytix, planner=planner,
                       stores=stores)
