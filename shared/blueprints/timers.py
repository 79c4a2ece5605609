"""Timer triggers. Schedules are app settings (%NAME% binding expressions), so ops change them without a
deploy. The work itself lives in shared.scan, shared.sweep and shared.completion_watcher."""

from __future__ import annotations

from typing import Optional

import azure.functions as func

from shared.completion_watcher import run_watcher
from shared.observability import get_logger
from shared.rules import RulesError
from shared.runtime import scan_deps, watcher_deps
from shared.scan import ScanReport, needs_full_sweep, read_watermark, run_full_scan, run_incremental_scan
from shared.sweep import SweepReport, run_sweep

bp = func.Blueprint()
log = get_logger(__name__)


@bp.function_name("full_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%FULL_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def full_sweep(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("full sweep is past due; running now")
    try:
        deps = scan_deps()  # loads the rules file: an invalid one is refused below, not a traceback
        if deps.settings.SWEEP_SEGMENT_PRODUCTS:
            _log_sweep(run_sweep(deps, start=True, budget_seconds=deps.settings.SWEEP_BUDGET_SECONDS))
        else:
            _log(run_full_scan(deps))
    except RulesError as exc:
        _refused("full sweep", exc)


@bp.function_name("incremental_pass")
@bp.timer_trigger(arg_name="timer", schedule="%INCREMENTAL_SCHEDULE%", run_on_startup=False, use_monitor=True)
def incremental_pass(timer: func.TimerRequest) -> None:
    try:
        deps = scan_deps()
        budget = deps.settings.SWEEP_BUDGET_SECONDS
        if deps.settings.SWEEP_SEGMENT_PRODUCTS and needs_full_sweep(deps, read_watermark(deps)):
            # No watermark yet (or new rules): the incremental pass would be a whole sweep in one go.
            _log_sweep(run_sweep(deps, start=True, budget_seconds=budget))
            return
        _log(run_incremental_scan(deps))
        if deps.settings.SWEEP_SEGMENT_PRODUCTS:  # an unfinished segmented sweep goes on here
            _log_sweep(run_sweep(deps, start=False, budget_seconds=budget))
    except RulesError as exc:
        _refused("incremental pass", exc)


def _refused(what: str, exc: RulesError) -> None:
    """A rules file that is invalid, or names attributes the Plytix account lacks, stops the pass before it
    reads anything: one error line per problem (file:line: field: message), no traceback."""
    log.error("%s refused to start: the rules file has %d problem(s):\n%s", what, len(exc.problems), exc)


@bp.function_name("completion_watcher")
@bp.timer_trigger(arg_name="timer", schedule="%COMPLETION_SCHEDULE%", run_on_startup=False, use_monitor=True)
def completion_watcher(timer: func.TimerRequest) -> None:
    report = run_watcher(watcher_deps())
    log.info("completion watcher %s: %d links in %d plans, seen %s, write-backs %s, %d Graph calls",
             report.run_id, report.links, report.plans, dict(report.seen), dict(report.writebacks),
             report.graph_calls)


def _log_sweep(report: Optional[SweepReport]) -> None:
    if report is not None:
        log.info("sweep %s: %d windows, %d products this invocation, %s", report.sweep_id, len(report.segments),
                 report.products, "finished" if report.finished else "to be continued")


def _log(report: ScanReport) -> None:
    log.info("%s pass %s: %d products, %d findings, done %s", report.mode, report.run_id, report.products_seen,
             report.findings, dict(report.done))
