"""GET /api/dashboard: the operations page, read from what the stores already hold.

- open tasks per rule and per plan: links in state `open` (the service filters the states);
- actions per day: audit rows of the last `days` days (created, closed, reopened, written back; dry runs
  and skipped actions left out);
- failed write-backs (the outbox's `failed` rows) and messages in the watched poison queues;
- the last passes with their API costs: the passes that moved the feed watermark (scheduled and full
  ones; the watermark keeps the last ten, shared/scan.py) and the runs table (on-demand scans keep their
  report, with `api_calls`);
- the Plytix rate-limit budget: the limiter's windows against the configured limits (this process's, or
  every instance's with PLYTIX_SHARED_RATE_LIMIT, one Table read), and the 429s and limiter waits its
  client has seen.

Every read is one query per table (audit: only rows since the first day shown); nothing calls Plytix or
Graph, so opening the page costs no API budget.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Optional

from shared.pages.charts import Bar, ColumnChart, bars, grouped_columns
from shared.pages.render import render
from shared.plytix.ratelimit import WindowUsage
from shared.store import LinkState, ScanRun, TableStores
from shared.writeback import Outbox, Writeback, WritebackState

DEFAULT_DAYS, MAX_DAYS = 14, 90
LAST_PASSES = 10
MAX_FAILED_SHOWN = 50

# Audit actions counted per day, by column. create/recreate/adopt all put a task in Planner; close and
# mark_closed both end one (ours or a person's); reopen is ours (a person's completion that did not fix
# the data); write_back is job 4's done write (shared/writeback/apply.py).
ACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "created": ("create", "recreate", "adopt"),
    "closed": ("close", "mark_closed"),
    "reopened": ("reopen",),
    "written back": ("write_back",),
}
_COLUMN_OF = {action: column for column, actions in ACTION_COLUMNS.items() for action in actions}


@dataclass(frozen=True)
class DayActions:
    day: date
    counts: dict[str, int]  # column -> count, every column present


@dataclass(frozen=True)
class Dashboard:
    generated: datetime
    environment: str
    open_by_rule: list[Bar]
    open_by_plan: list[Bar]
    open_total: int
    days: list[DayActions]
    day_chart: ColumnChart
    failed_writebacks: list[Writeback]
    failed_total: int
    poison: dict[str, Optional[int]]
    passes: list[ScanRun]
    recent_passes: list[dict[str, Any]]  # the feed watermark's last passes, newest first (shared/scan.py)
    budget: list[WindowUsage]
    plytix_stats: dict[str, Any]


def actions_per_day(entries: Iterable[Any], first: date, last: date) -> list[DayActions]:
    """Counts per day and column, every day from `first` to `last` present (a quiet day shows zeros)."""
    counted: Counter[tuple[date, str]] = Counter()
    for entry in entries:
        column = _COLUMN_OF.get(entry.action)
        if column is not None and not entry.dry_run and entry.at is not None:
            counted[(entry.at.astimezone(timezone.utc).date(), column)] += 1
    return [DayActions(first + timedelta(days=n), {c: counted[(first + timedelta(days=n), c)] for c in ACTION_COLUMNS})
            for n in range((last - first).days + 1)]


def collect(stores: TableStores, *, poison: Callable[[], Mapping[str, Optional[int]]], budget: list[WindowUsage],
            plytix_stats: dict[str, Any], environment: str, days: int = DEFAULT_DAYS,
            now: Optional[datetime] = None) -> Dashboard:
    """Everything the page shows, read once. `poison` is called (never raises: AppQueues.poison_report)."""
    from shared.scan import WATERMARK_CURSOR

    now = now or datetime.now(timezone.utc)
    by_rule: Counter[str] = Counter()
    by_plan: Counter[str] = Counter()
    for link in stores.links.list_all({LinkState.open}):
        by_rule[link.rule_id] += 1
        by_plan[link.plan_id or "(no plan)"] += 1
    last = now.date()
    first = last - timedelta(days=days - 1)
    per_day = actions_per_day(stores.audit.since(datetime.combine(first, time(0), timezone.utc)), first, last)
    outbox = Outbox(stores.table("writebacks"))
    failed = sorted(outbox.list(WritebackState.failed), key=lambda w: w.updated_at or now, reverse=True)
    watermark = stores.cursors.get(WATERMARK_CURSOR)
    return Dashboard(
        generated=now, environment=environment,
        open_by_rule=bars(sorted(by_rule.items())), open_by_plan=bars(sorted(by_plan.items())),
        open_total=sum(by_rule.values()), days=per_day,
        day_chart=grouped_columns([(d.day.strftime("%d %b"), list(d.counts.values())) for d in per_day],
                                  list(ACTION_COLUMNS)),
        failed_writebacks=failed[:MAX_FAILED_SHOWN], failed_total=len(failed), poison=dict(poison()),
        passes=stores.runs.latest(LAST_PASSES), recent_passes=list(watermark.value.get("recent") or []) if watermark else [],
        budget=budget, plytix_stats=plytix_stats)


def page(dashboard: Dashboard) -> str:
    return render("dashboard.html", d=dashboard, columns=list(ACTION_COLUMNS))


def parse_days(params: Mapping[str, str]) -> int | str:
    """`?days=N` (1 to MAX_DAYS, default DEFAULT_DAYS), or the message for a 400."""
    raw = (params.get("days") or "").strip()
    if not raw:
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        return f"days must be a whole number from 1 to {MAX_DAYS}"
    return int(raw)
