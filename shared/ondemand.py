"""On-demand scans: POST /api/scans records a run and queues it; a queue trigger runs it; the run's state
(status, progress, report) lives in Table Storage for GET /api/scans/{run_id}.

Why a queue: Azure cuts an HTTP response at 230 seconds whatever functionTimeout says (Microsoft Learn,
"Azure Functions hosting options", function app time-out duration), and a full sweep of 100,000 products
takes about 9 minutes at the free Plytix limit. A queue-triggered function has no such limit, is retried
by the host (maxDequeueCount in host.json) and lands in `<queue>-poison` after the last try, which
/api/health reports (shared.queues).

Safety: a run is a full sweep, and sweeps are level-triggered with claims in the link table, so two runs
at once, or one run delivered twice (the host's at-least-once delivery), never duplicate a task. A message
whose run already succeeded is acknowledged without running again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Optional

from shared.feed import ProductFeed
from shared.http_params import flag, json_body
from shared.observability import get_logger
from shared.scan import ScanDeps, ScanReport, new_run_id, run_full_scan, select_rules
from shared.store import ConcurrentUpdate, RunStatus, ScanRun
from shared.store.runs import check_run_id, stored_report

log = get_logger(__name__)

# host.json extensions.queues.maxDequeueCount: the host's tries before the poison queue (tests check they match).
MAX_TRIES = 5
PROGRESS_INTERVAL_SECONDS = 2.0  # at most one progress write per run this often (storage requests cost)
_FIELDS = ("dry_run", "rules")


class BadScanRequest(ValueError):
    """The request cannot be run; the message says why (answered as 400)."""


@dataclass(frozen=True)
class ScanRequest:
    dry_run: bool = False
    rules: Optional[list[str]] = None
    wait: bool = False  # answer with the report (today's synchronous call) instead of queueing


def parse_request(body: bytes, params: Mapping[str, str]) -> ScanRequest:
    """Body `{"dry_run": bool, "rules": [ids]}`; query `?dry_run=true` and `?wait=true`."""
    try:
        payload = json_body(body) if body and body.strip() else {}
    except ValueError as exc:
        raise BadScanRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadScanRequest("body must be a JSON object")
    unknown = set(payload) - set(_FIELDS)
    if unknown:
        raise BadScanRequest(f"unknown field(s): {', '.join(sorted(unknown))}; allowed: {', '.join(_FIELDS)}")
    dry_run = payload.get("dry_run", flag(params.get("dry_run")))
    if not isinstance(dry_run, bool):
        raise BadScanRequest("dry_run must be true or false")
    rules = payload.get("rules")
    if rules is not None and (not isinstance(rules, list) or not all(isinstance(r, str) for r in rules)):
        raise BadScanRequest("rules must be a list of rule ids")
    wait = flag(params.get("wait"))
    if not isinstance(wait, bool):
        raise BadScanRequest("wait must be true or false")
    return ScanRequest(dry_run=dry_run, rules=rules, wait=wait)


def queue_run(deps: ScanDeps, request: ScanRequest) -> tuple[ScanRun, str]:
    """Record a queued run; return it and the queue message that starts it. Unknown rule ids fail here,
    with BadScanRequest, not later in the worker."""
    run = _record(deps, request)
    return run, json.dumps({"run_id": run.run_id})


def run_now(deps: ScanDeps, request: ScanRequest) -> ScanReport:
    """`?wait=true`: run in the request (within the 230-second HTTP limit), recorded like a queued run."""
    return _execute(deps, _record(deps, request), last_try=True)


def work(deps: ScanDeps, message: bytes, dequeue_count: int = 1) -> None:
    """The queue trigger: run the queued scan the message names. Raises on failure so the host retries
    (and, after the last try, moves the message to the poison queue). The run says `retrying` while
    tries are left and `failed` after the last one (`dequeue_count` is the host's try number)."""
    try:
        run_id = check_run_id(json.loads(message)["run_id"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("scan message must be JSON {\"run_id\": \"<12-32 hex>\"}") from None
    run = deps.stores.runs.get(run_id)
    if run is None:
        raise LookupError(f"scan run {run_id} is not recorded (was its table deleted?)")
    if run.status is RunStatus.succeeded:
        log.info("scan run %s already succeeded; message acknowledged", run_id)
        return
    _execute(deps, run, last_try=dequeue_count >= MAX_TRIES)


def _record(deps: ScanDeps, request: ScanRequest) -> ScanRun:
    """Store a new queued run, after checking its rule ids (BadScanRequest names unknown ones) and that
    the account has every attribute those rules name (AccountMismatch, a RulesError, as a sweep would
    raise it; the attribute listing is cached, so this costs a Plytix call at most every 15 minutes, and one
    more to confirm a mismatch)."""
    try:
        rules = select_rules(deps.rules, request.rules)
    except ValueError as exc:
        raise BadScanRequest(str(exc)) from None
    ProductFeed(deps.plytix).check_rules(deps.rules_file, rule_ids={rule.id for rule in rules})
    return deps.stores.runs.create(ScanRun(run_id=new_run_id(), created=deps.clock(), dry_run=request.dry_run,
                                           rules=request.rules))


def _execute(deps: ScanDeps, run: ScanRun, *, last_try: bool) -> ScanReport:
    """Mark the run running, sweep, store the outcome. A failure is stored, then re-raised."""
    now = deps.clock()
    run = _save(deps, run, lambda r: replace(r, status=RunStatus.running, started=r.started or now,
                                             attempts=r.attempts + 1, error=None))
    writer = _ProgressWriter(deps, run)
    try:
        report = run_full_scan(deps, dry_run=run.dry_run, rule_ids=run.rules, run_id=run.run_id, progress=writer)
    except Exception as exc:
        error = f"{exc.__class__.__name__}: {exc}"
        outcome = RunStatus.failed if last_try else RunStatus.retrying
        writer.finish(lambda r: replace(r, status=outcome, finished=deps.clock() if last_try else None, error=error))
        raise
    writer.finish(lambda r: replace(r, status=RunStatus.succeeded, finished=report.finished or deps.clock(),
                                    progress=_progress(report), report=stored_report(report.to_json())))
    return report


def _progress(report: ScanReport) -> dict[str, int]:
    return {"products_read": report.products_seen, "actions_planned": len(report.planned),
            "actions_done": sum(report.done.values())}


def _save(deps: ScanDeps, run: ScanRun, change: Callable[[ScanRun], ScanRun], tries: int = 3) -> ScanRun:
    """Apply `change` to the run and save it; on a concurrent write, re-read and apply it again."""
    for _ in range(tries - 1):
        try:
            return deps.stores.runs.save(change(run))
        except ConcurrentUpdate:
            run = deps.stores.runs.get(run.run_id) or run
    return deps.stores.runs.save(change(run))


class _ProgressWriter:
    """The scan's progress callback: stores products read and actions done, at most every few seconds."""

    def __init__(self, deps: ScanDeps, run: ScanRun) -> None:
        self._deps = deps
        self.run = run
        self._last = time.monotonic()

    def __call__(self, report: ScanReport) -> None:
        if time.monotonic() - self._last < PROGRESS_INTERVAL_SECONDS:
            return
        self._last = time.monotonic()
        try:
            self.run = self._deps.stores.runs.save(replace(self.run, progress=_progress(report)))
        except ConcurrentUpdate:  # another delivery of this run wrote meanwhile: take its version, go on
            self.run = self._deps.stores.runs.get(self.run.run_id) or self.run

    def finish(self, change: Callable[[ScanRun], ScanRun]) -> None:
        self.run = _save(self._deps, self.run, change)
