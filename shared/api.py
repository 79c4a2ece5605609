"""The HTTP API's logic, free of azure.functions: each function takes plain values and returns
(status, JSON body). The blueprint in shared/blueprints/http_api.py only adapts requests to these.

Why split: the logic is testable with plain calls, and the edge stays thin (DESIGN.md layout)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from shared.health_cache import HealthCache
from shared.http_params import flag
from shared.observability import COUNTERS
from shared.settings import Settings, SettingsError, get_settings
from shared.version import __version__

Reply = tuple[int, dict[str, Any]]
MAX_AUDIT_LIMIT = 1000


_HEALTH = HealthCache()
OPENAPI_FILE = Path(__file__).with_name("openapi.json")


@cache
def openapi_document() -> dict[str, Any]:
    """GET /api/openapi.json: the HTTP API as OpenAPI 3.1, written by hand next to the code it describes.
    tests/test_openapi.py keeps it honest: every registered route is documented and the other way round,
    and a schemathesis fuzz over the local host finds no 5xx and only JSON error bodies."""
    with OPENAPI_FILE.open(encoding="utf-8") as doc:
        return dict(json.load(doc))


def health(params: Mapping[str, str]) -> Reply:
    """GET /api/health[?deep=true]: version and whether Table Storage, Plytix and Graph answer. Never
    raises, never shows secrets.

    The upstream checks are cached for HEALTH_CACHE_SECONDS (see shared/health_cache.py), so the usual
    answer costs no upstream call; `deep=true` forces a fresh check. The process's counters are always
    current."""
    deep = flag(params.get("deep"))
    if not isinstance(deep, bool):
        return 400, {"error": "deep must be true or false"}
    try:
        settings = get_settings()
    except SettingsError as exc:
        return 503, {"status": "misconfigured", "version": __version__, "error": str(exc)}
    status, body = _HEALTH.answer(lambda: _check_upstream(settings), max_age=settings.HEALTH_CACHE_SECONDS,
                                  force=deep)
    return status, {**body, "counters": COUNTERS.snapshot()}


def _check_upstream(settings: Settings) -> Reply:
    """One fresh round of checks: a storage query, one Plytix call, one Graph call per plan in use."""
    from shared.rules import RulesError
    from shared.runtime import clients, current_rules

    try:
        plytix, planner, stores = clients(settings)
    except Exception as exc:  # noqa: BLE001 - health reports every failure instead of raising
        return 503, {"status": "unhealthy", "version": __version__,
                     "error": f"could not start clients: {exc.__class__.__name__}"}
    checks: dict[str, Any] = {"table_storage": stores.ping(), "plytix": _answers(lambda: plytix.count([]))}
    try:
        rules_file = current_rules(settings)
        checks["rules"] = True
        plan_ids = sorted(rules_file.plan_ids())
        checks["graph"] = bool(plan_ids) and all(_answers(partial(planner.get_plan, p)) for p in plan_ids)
    except (OSError, RulesError) as exc:
        checks["rules"] = False
        checks["graph"] = False
        checks["rules_error"] = str(exc)
    else:
        if checks["plytix"]:
            checks["rules_match_plytix"] = _rules_match_plytix(rules_file, plytix, checks)
    poison = poison_report(settings)
    checks["poison_queues"] = poison.healthy
    healthy = all(v is True for k, v in checks.items() if k != "rules_error")
    return (200 if healthy else 503), {"status": "ok" if healthy else "degraded", "version": __version__,
                                       "environment": settings.ENVIRONMENT_NAME, "checks": checks,
                                       "poison_messages": poison.counts,
                                       "writebacks": _writebacks(stores),
                                       "plan_capacity": _plan_capacity(stores)}


def _plan_capacity(stores: Any) -> dict[str, Any]:
    """Each plan's active tasks and overflow as the last pass counted them (stored with its watermark):
    reported, not a failed check, since the rules file's plan_overflow policy handles what does not fit."""
    from shared.scan import WATERMARK_CURSOR

    try:
        cursor = stores.cursors.get(WATERMARK_CURSOR)
    except Exception:  # noqa: BLE001 - table_storage already reports an unreachable store
        return {}
    if cursor is None:
        return {}
    return {"pass_started": cursor.value.get("since"), "plans": cursor.value.get("plan_capacity") or {}}


def poison_report(settings: Any) -> Any:
    """Messages in the watched poison queues (shared.queues.WATCHED_QUEUES): work that failed every try."""
    from shared.queues import PoisonReport, poison_queue_names
    from shared.runtime import queues

    try:
        return queues(settings).poison_report()
    except ValueError:  # no queue endpoint configured: cannot tell, so not healthy
        return PoisonReport(dict.fromkeys(poison_queue_names(settings.QUEUE_PREFIX)))


def _writebacks(stores: Any) -> dict[str, Any]:
    """Poisoned write-backs need a person (GET /api/writebacks?state=failed): counted, never hidden. They
    do not make health fail: restarting an instance would not fix them."""
    from shared.writeback import Outbox, WritebackState

    try:
        outbox = Outbox(stores.table("writebacks"))
        return {"failed": outbox.count(WritebackState.failed), "pending": outbox.count(WritebackState.pending)}
    except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
        return {"error": exc.__class__.__name__}


def _rules_match_plytix(rules_file: Any, plytix: Any, checks: dict[str, Any]) -> bool:
    """Does every attribute the enabled rules name exist in the account? The listing is cached per client
    (shared/plytix/schema.py), so this costs a call at most every 15 minutes (and one more to confirm a
    mismatch). A mismatch is the message a scan would refuse to start with (file:line, the label, the
    nearest existing label)."""
    from shared.feed import ProductFeed
    from shared.rules import AccountMismatch

    try:
        ProductFeed(plytix).check_rules(rules_file)
    except AccountMismatch as exc:
        checks["rules_error"] = str(exc)
        return False
    except Exception as exc:  # noqa: BLE001 - health reports every failure instead of raising
        checks["rules_error"] = f"could not read the Plytix filter listing: {exc.__class__.__name__}"
        return False
    return True


def _answers(ping: Callable[[], Any]) -> bool:
    try:
        ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "does not answer"
        return False


@dataclass(frozen=True)
class ScanStart:
    """POST /api/scans's answer, and the queue message that starts the run (None: nothing to queue)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    message: Optional[str] = None


def start_scan(body: bytes, params: Mapping[str, str]) -> ScanStart:
    """POST /api/scans: {"dry_run": bool, "rules": [ids]} (query ?dry_run=true also works).

    202 with the run id and `Location: /api/scans/{run_id}`; the scan runs from the scans queue.
    `?wait=true` runs it in the request instead and answers 200 with the report (small catalogs: Azure
    cuts HTTP responses at 230 seconds)."""
    from shared import ondemand
    from shared.rules import RulesError
    from shared.runtime import scan_deps

    try:
        request = ondemand.parse_request(body, params)
    except ondemand.BadScanRequest as exc:
        return ScanStart(400, {"error": str(exc)})
    try:
        deps = scan_deps()
    except (SettingsError, RulesError) as exc:
        return ScanStart(503, {"error": str(exc)})
    try:
        if request.wait:
            return ScanStart(200, ondemand.run_now(deps, request).to_json())
        run, message = ondemand.queue_run(deps, request)
    except ondemand.BadScanRequest as exc:
        return ScanStart(400, {"error": str(exc)})
    except RulesError as exc:  # e.g. AccountMismatch: the rules name attributes the account does not have
        return ScanStart(503, {"error": str(exc)})
    location = f"/api/scans/{run.run_id}"
    return ScanStart(202, {**run.to_json(), "status_url": location}, {"Location": location}, message)


def scan_status(run_id: str) -> Reply:
    """GET /api/scans/{run_id}: status, progress and, once finished, the report."""
    from shared.runtime import clients
    from shared.store import InvalidKey

    _, _, stores = clients(get_settings())
    try:
        run = stores.runs.get(run_id)
    except InvalidKey as exc:
        return 400, {"error": f"run id {run_id!r} is malformed: {exc}"}
    if run is None:
        return 404, {"error": f"no scan run {run_id}"}
    return 200, run.to_json()


def parse_limit(params: Mapping[str, str], maximum: int, default: int = 200) -> int | str:
    """`?limit=N` as an int from 1 to `maximum`, or the error message for a 400."""
    try:
        limit = int(params.get("limit") or default)
    except ValueError:
        return "limit must be an integer"
    return limit if 1 <= limit <= maximum else f"limit must be between 1 and {maximum}"


def audit(params: Mapping[str, str]) -> Reply:
    """GET /api/audit?product=ID[&limit=N]: a product's history, oldest first; with `plan=ID` instead,
    what happened to a whole plan (passes that found it near Planner's active task limit)."""
    product = (params.get("product") or "").strip()
    plan = (params.get("plan") or "").strip()
    if bool(product) == bool(plan):
        return 400, {"error": "give exactly one of the query parameters 'product' and 'plan'"}
    limit = parse_limit(params, MAX_AUDIT_LIMIT)
    if isinstance(limit, str):
        return 400, {"error": limit}
    from shared.runtime import clients
    from shared.store import InvalidKey

    _, _, stores = clients(get_settings())
    try:
        if plan:
            entries = stores.audit.for_plan(plan, limit=limit)
            return 200, {"plan": plan, "entries": [_entry_json(e) for e in entries]}
        entries = stores.audit.for_product(product, limit=limit)
    except InvalidKey as exc:  # too long, or characters Table keys forbid: no such id was ever stored
        return 400, {"error": f"'{'plan' if plan else 'product'}' cannot be an id: {exc}"}
    return 200, {"product": product, "entries": [_entry_json(e) for e in entries]}


def _entry_json(entry: Any) -> dict[str, Any]:
    return {"at": entry.at.isoformat() if entry.at else None, "action": entry.action, "reason": entry.reason,
            "rule": entry.rule_id, "task_id": entry.task_id, "fingerprint": entry.fingerprint,
            "run_id": entry.run_id, "dry_run": entry.dry_run, "details": entry.details}
