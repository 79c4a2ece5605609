"""Timer triggers. Schedules are app settings (%NAME% binding expressions), so ops change them without a
deploy. The work itself lives in shared.scan."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.runtime import scan_deps
from shared.scan import ScanReport, run_full_scan, run_incremental_scan

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("full_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%FULL_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def full_sweep(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("full sweep is past due; running now")
    _log(run_full_scan(scan_deps()))


@bp.function_name("incremental_pass")
@bp.timer_trigger(arg_name="timer", schedule="%INCREMENTAL_SCHEDULE%", run_on_startup=False, use_monitor=True)
def incremental_pass(timer: func.TimerRequest) -> None:
    _log(run_incremental_scan(scan_deps()))


def _log(report: ScanReport) -> None:
    log.info("%s pass %s: %d products, %d findings, done %s", report.mode, report.run_id, report.products_seen,
             report.findings, dict(report.done))
