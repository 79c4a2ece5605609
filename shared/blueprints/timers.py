"""Timer triggers. Schedules are app settings (%NAME% binding expressions), so ops change them without a
deploy. The work itself lives in shared.scan."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.runtime import scan_deps
from shared.scan import run_full_scan

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("full_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%FULL_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def full_sweep(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("full sweep is past due; running now")
    report = run_full_scan(scan_deps())
    log.info("full sweep %s: %d products, %d findings, done %s", report.run_id, report.products_seen,
             report.findings, dict(report.done))
