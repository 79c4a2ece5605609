"""A full sweep in segments, so that it can outlast one invocation and resume where it stopped (issue 12).

Why segments by `created`: a sweep of 200,000 products takes longer than an invocation should, and one
killed half-way used to start again from the first product. A checkpoint needs a position that means the
same thing in the next invocation: a page number does not (search without `order` promises no stable
order between two queries, and `order` on more than 10,000 matches answers 428, API_FACTS.md), but a
product's `created` time never changes. So the sweep reads the catalog in windows of `created`, newest
first: [upper - span, upper), starting at the sweep's start time, each window reconciled as a pass of
its own (an absent finding closes a task only for products that window read) and then committed to the
`full-sweep` cursor. A sweep killed in a window redoes that window only; every product lies in exactly
one window, so none is missed or read twice by committed windows. Products created after the sweep
started are the incremental pass's (their `modified` is after its watermark).

Window size: `SWEEP_SEGMENT_PRODUCTS` products, found by counting first (one search with page_size 1
reads `total_count`): a window holding more than twice that is narrowed (to the share of its span that
should hold the target, at least halved) before it is read, and the next window's span is scaled by what
this one held. An empty window with nothing older ends the sweep: the
final step looks up by id the linked products no window returned (deleted from Plytix, or slipped), as
the one-invocation sweep does, and moves the incremental pass's watermark to the sweep's start.

Who runs it: the `full_sweep` timer starts a sweep (or continues an unfinished one) and runs windows for
up to `SWEEP_BUDGET_SECONDS`; every incremental pass then continues an unfinished sweep for the same
budget. `SWEEP_SEGMENT_PRODUCTS=0` keeps the one-invocation sweep.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Optional

from shared.feed import created_window
from shared.observability import get_logger, log_event
from shared.scan import (
    SWEEP_WINDOW_MODE,
    ScanDeps,
    ScanReport,
    no_progress,
    pass_feed,
    read_watermark,
    run_pass,
    save_watermark,
)
from shared.store import ConcurrentUpdate, Cursor

log = get_logger(__name__)

SWEEP_CURSOR = "full-sweep"
FIRST_SPAN = timedelta(days=30)
MIN_SPAN = timedelta(seconds=1)
MAX_GROWTH = 8.0  # the next window at most this many times wider than the last


@dataclass
class SweepState:
    """The `full-sweep` cursor's value: where the sweep stands."""

    sweep_id: str
    started: str  # ISO; windows cover created < started
    upper: str  # ISO; the next window ends here (exclusive)
    span_seconds: float
    segments: int = 0
    products: int = 0
    done: bool = False

    def read_cursor(self, segment: int) -> str:
        return f"{SWEEP_CURSOR}-read-{self.sweep_id}-{segment}"


@dataclass
class SweepReport:
    """What one invocation's share of a sweep did."""

    sweep_id: str
    segments: list[ScanReport] = field(default_factory=list)
    finished: bool = False

    @property
    def products(self) -> int:
        return sum(r.products_seen for r in self.segments)

    @property
    def errors(self) -> list[str]:
        return [error for r in self.segments for error in r.errors]


def run_sweep(deps: ScanDeps, *, start: bool, budget_seconds: float,
              monotonic: Callable[[], float] = time.monotonic,
              checkpoint: Optional[Callable[[str], None]] = None) -> Optional[SweepReport]:
    """Run windows of the current sweep until it is done or `budget_seconds` are spent (a window that
    started is finished). `start`: begin a new sweep when none is unfinished (the daily timer); otherwise
    only continue one (the incremental timer). None when there was nothing to do."""
    cursor = deps.stores.cursors.get(SWEEP_CURSOR)
    state = SweepState(**cursor.value) if cursor is not None else None
    if state is None or state.done:
        if not start:
            return None
        now = deps.clock()
        state = SweepState(sweep_id=uuid.uuid4().hex[:12], started=now.isoformat(), upper=now.isoformat(),
                           span_seconds=_first_span(state))
        cursor = _save(deps, state, cursor)
    report = SweepReport(sweep_id=state.sweep_id)
    deadline = monotonic() + budget_seconds
    try:
        while not state.done and monotonic() < deadline:
            state, cursor = _step(deps, state, cursor, report, checkpoint)
    except ConcurrentUpdate:  # another instance moved the sweep on: it carries on from there
        log.info("sweep %s is being run by another instance", state.sweep_id)
    report.finished = state.done
    log_event(log, "sweep_progress", sweep=state.sweep_id, segments=len(report.segments),
              products=report.products, finished=report.finished, upper=state.upper)
    return report


def _first_span(previous: Optional[SweepState]) -> float:
    """The last sweep's final span is a fair first guess for this one; FIRST_SPAN without one."""
    return previous.span_seconds if previous is not None else FIRST_SPAN.total_seconds()


def _step(deps: ScanDeps, state: SweepState, cursor: Optional[Cursor], report: SweepReport,
          checkpoint: Optional[Callable[[str], None]]) -> tuple[SweepState, Optional[Cursor]]:
    """One window (or the final step), committed to the cursor."""
    target = deps.settings.SWEEP_SEGMENT_PRODUCTS
    upper = datetime.fromisoformat(state.upper)
    span = timedelta(seconds=state.span_seconds)
    count = _count(deps, upper - span, upper)
    while count > 2 * target and span > MIN_SPAN:  # too many: narrow to the share that should hold `target`
        span = max(MIN_SPAN, min(span / 2, span * target / count))
        count = _count(deps, upper - span, upper)
    lower = upper - span
    if count == 0:
        if _count(deps, None, lower) == 0:
            return _finish(deps, state, cursor, report, checkpoint)
        state.upper, state.span_seconds = lower.isoformat(), span.total_seconds() * MAX_GROWTH
        return state, _save(deps, state, cursor)
    feed = pass_feed(deps, deps.rules)
    segment = ScanReport(run_id=f"{state.sweep_id}-{state.segments}", dry_run=False, started=deps.clock(),
                         mode=SWEEP_WINDOW_MODE)
    run_pass(deps, deps.rules, segment, feed, lambda attributes: feed.created_between(lower, upper, attributes),
             full=False, checkpoint=checkpoint, progress=no_progress)
    report.segments.append(segment)
    _save_read(deps, state.read_cursor(state.segments), sorted(segment.linked_read))
    state.segments += 1
    state.products += segment.products_seen
    state.upper = lower.isoformat()
    growth = min(MAX_GROWTH, target / max(count, 1))
    state.span_seconds = max(MIN_SPAN.total_seconds(), span.total_seconds() * growth)
    return state, _save(deps, state, cursor)


def _finish(deps: ScanDeps, state: SweepState, cursor: Optional[Cursor], report: SweepReport,
            checkpoint: Optional[Callable[[str], None]]) -> tuple[SweepState, Optional[Cursor]]:
    """No product older than the last window: look up the linked products no window read (deleted, or
    slipped), reconcile them, and move the incremental watermark to the sweep's start."""
    read_before: set[str] = set()
    for segment in range(state.segments):
        read_before.update(_load_read(deps, state.read_cursor(segment)))
    watermark = read_watermark(deps)
    final = ScanReport(run_id=f"{state.sweep_id}-final", dry_run=False,
                       started=datetime.fromisoformat(state.started), mode="sweep-final")
    feed = pass_feed(deps, deps.rules)
    run_pass(deps, deps.rules, final, feed, lambda attributes: iter(()), full=True, checkpoint=checkpoint,
             progress=no_progress, read_before=frozenset(read_before))
    save_watermark(deps, watermark, final)
    report.segments.append(final)
    state.done = True
    saved = _save(deps, state, cursor)
    for segment in range(state.segments):
        _delete_read(deps, state.read_cursor(segment))
    return state, saved


# A window's read products, in cursor rows of READ_CHUNK ids (a row holds at most 1 MB): "<name>-<i>".
READ_CHUNK = 10_000


def _save_read(deps: ScanDeps, name: str, ids: list[str]) -> None:
    """Written again as a whole when a window is redone after a crash (its rows are replaced, and rows
    beyond the new count removed)."""
    chunks = [ids[i:i + READ_CHUNK] for i in range(0, len(ids), READ_CHUNK)] or [[]]
    for index, chunk in enumerate(chunks):
        row = f"{name}-{index}"
        existing = deps.stores.cursors.get(row)
        deps.stores.cursors.save(Cursor(row, {"ids": chunk}, etag=existing.etag if existing else None))
    _delete_read(deps, name, start=len(chunks))


def _load_read(deps: ScanDeps, name: str) -> list[str]:
    ids: list[str] = []
    index = 0
    while (part := deps.stores.cursors.get(f"{name}-{index}")) is not None:
        ids.extend(part.value.get("ids") or [])
        index += 1
    return ids


def _delete_read(deps: ScanDeps, name: str, start: int = 0) -> None:
    index = start
    while deps.stores.cursors.get(f"{name}-{index}") is not None:
        deps.stores.cursors.delete(f"{name}-{index}")
        index += 1


def _count(deps: ScanDeps, lower: Optional[datetime], upper: datetime) -> int:
    """Products created in [lower, upper): one search call (page_size 1, `total_count`)."""
    return deps.plytix.count([created_window(lower, upper)])


def _save(deps: ScanDeps, state: SweepState, cursor: Optional[Cursor]) -> Cursor:
    """Commit the state (ConcurrentUpdate when another instance committed first)."""
    return deps.stores.cursors.save(Cursor(SWEEP_CURSOR, asdict(state), etag=cursor.etag if cursor else None))
