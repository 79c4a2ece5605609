"""Carry out one outbox row: lease it, check the guards against the product as it is now, PATCH, record.

Why the product is re-read before every attempt: the outcome of a PATCH whose answer was lost (a crash,
a dropped connection, a 5xx from a gateway after Plytix acted) is unknown. Re-reading turns "unknown"
into "found done" (the product already holds every value we meant to write) or "not done yet", so no
write is ever sent twice. For the same reason the PATCH is sent with `repeat_if_unknown=False`: the
client still waits out 429s (they prove nothing was done), but a 5xx or a lost answer comes back here,
to be re-read and retried with a backoff, counted as an attempt. After WRITEBACK_MAX_ATTEMPTS the row is
parked as `failed` (poison) and nothing more is tried until someone re-queues it.

Guards (issue 9): the stage is moved only while the product is still in the stage it had when the task
was created, and never backwards in the stage map. A refused write is a `conflict`: the task is left as
it is, a note is appended to its description, and the audit says why.

`checkpoint(step)` is called between the steps; tests pass one that raises to simulate a crash there.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional, Sequence

from shared.observability import COUNTERS, Count, get_logger, log_event
from shared.planner import PlannerClient, PlannerError
from shared.plytix import PlytixClient
from shared.plytix.errors import NotFound, PlytixError, RateLimited, Unavailable
from shared.plytix.retry import backoff_delay
from shared.rules.on_complete import stage_index
from shared.store import AuditEntry, ConcurrentUpdate, TableStores
from shared.writeback.echo import EchoLog
from shared.writeback.outbox import FINAL_STATES, Outbox, Writeback, WritebackState

log = get_logger(__name__)

LEASE = timedelta(minutes=2)
ATTEMPTS_PER_RUN = 3  # a transient failure is retried in the same run, so one watcher period usually suffices
NOTE_MARKER = "plytix-planner-sync write-back"


@dataclass
class WritebackContext:
    stores: TableStores
    plytix: PlytixClient
    planner: PlannerClient
    stages: Sequence[str]  # the rules file's workflow_stages
    stage_attribute: str
    max_attempts: int = 5
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    checkpoint: Callable[[str], None] = field(default=lambda step: None)
    sleep: Callable[[float], None] = time.sleep
    backoff_base: float = 0.5
    run_id: str = ""

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.stores.table("writebacks"))

    @property
    def echoes(self) -> EchoLog:
        return EchoLog(self.stores.table("echoes"))


class _Retry(Exception):
    """An attempt failed in a way that a later attempt may fix."""


def process(ctx: WritebackContext, writeback_id: str) -> Optional[Writeback]:
    """Work one row to a final state if it is ours to work now; returns the row as left (None: no row).
    A row another worker holds (live lease), held back by its backoff, or already final is left alone."""
    row = ctx.outbox.get(writeback_id)
    if row is None or not _due(ctx, row):
        return row
    try:
        row = ctx.outbox.save(dataclasses.replace(row, state=WritebackState.applying,
                                                  lease_until=ctx.now() + LEASE))
    except ConcurrentUpdate:
        return ctx.outbox.get(writeback_id)  # another worker leased it first
    ctx.checkpoint("leased")
    try:
        return _work(ctx, row)
    except ConcurrentUpdate:  # our lease ran out and another worker took the row over: it finishes it
        return ctx.outbox.get(writeback_id)


def _work(ctx: WritebackContext, row: Writeback) -> Writeback:
    """Up to ATTEMPTS_PER_RUN attempts under our lease; then back to pending with a backoff, or poison."""
    for round_ in range(ATTEMPTS_PER_RUN):
        row = dataclasses.replace(row, attempts=row.attempts + 1)
        try:
            return _attempt(ctx, row)
        except _Retry as exc:
            row = dataclasses.replace(row, last_error=str(exc))
            if row.attempts >= ctx.max_attempts:
                return _finish(ctx, row, WritebackState.failed,
                               f"gave up after {row.attempts} failed attempts: {exc}")
            if round_ + 1 == ATTEMPTS_PER_RUN:
                delay = backoff_delay(row.attempts, base=ctx.backoff_base * 4, cap=300)
                return ctx.outbox.save(dataclasses.replace(
                    row, state=WritebackState.pending, lease_until=None,
                    next_attempt_at=ctx.now() + timedelta(seconds=delay)))
            row = ctx.outbox.save(row)  # keeps the lease and counts the attempt
            ctx.sleep(backoff_delay(round_, base=ctx.backoff_base, cap=5))
    return row


def _due(ctx: WritebackContext, row: Writeback) -> bool:
    now = ctx.now()
    if row.state in FINAL_STATES:
        return False
    if row.state is WritebackState.applying:
        return row.lease_until is None or row.lease_until <= now  # a crashed worker's lease runs out
    return row.next_attempt_at is None or row.next_attempt_at <= now


def _attempt(ctx: WritebackContext, row: Writeback) -> Writeback:
    try:
        product = ctx.plytix.get_product(row.product_id)
    except NotFound:
        return _conflict(ctx, row, "the product no longer exists in Plytix")
    except (RateLimited, Unavailable) as exc:
        raise _Retry(f"reading the product: {exc}") from None
    ctx.checkpoint("read")
    if _holds(product, row):
        return _done(ctx, row, product.get("modified"), "found done: the product already holds these values")
    refusal = _guard(ctx, row, product)
    if refusal:
        return _conflict(ctx, row, refusal)
    body: dict[str, Any] = {}
    if row.attributes:
        body["attributes"] = row.attributes
    if row.status:
        body["status"] = row.status
    # Echo first (DESIGN.md, loop prevention): a pass that reads the product between our PATCH and a
    # later record would take our write for a person's change. The row is completed with the answered
    # `modified` once the PATCH returns (same RowKey: one row per write-back).
    ctx.echoes.record(row.product_id, row.id, _values(row), None)
    ctx.checkpoint("before_patch")
    try:
        written = ctx.plytix.patch_product(row.product_id, body, repeat_if_unknown=False)
    except NotFound:
        return _conflict(ctx, row, "the product no longer exists in Plytix")
    except (RateLimited, Unavailable) as exc:
        raise _Retry(f"PATCH: {exc}") from None
    except PlytixError as exc:  # 422 and other refusals: retrying sends the same refused body
        return _finish(ctx, row, WritebackState.failed, f"Plytix refused the write: {exc}")
    ctx.checkpoint("after_patch")
    return _done(ctx, row, written.get("modified"), "written")


def _holds(product: dict[str, Any], row: Writeback) -> bool:
    attributes = product.get("attributes") or {}
    if row.status and product.get("status") != row.status:
        return False
    return all(_same(attributes.get(label), value) for label, value in row.attributes.items())


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(current, str) and isinstance(wanted, str):
        return current.strip().casefold() == wanted.strip().casefold()  # Plytix text compares ignore case
    return bool(current == wanted)


def _guard(ctx: WritebackContext, row: Writeback, product: dict[str, Any]) -> Optional[str]:
    """Why the write must not happen, or None."""
    if row.target_stage is None:
        return None
    current = (product.get("attributes") or {}).get(ctx.stage_attribute)
    if row.expected_stage is not None and not _same(current, row.expected_stage):
        return (f"the product is in stage {current!r}, no longer in {row.expected_stage!r} where it was when "
                f"the task was created; not moved to {row.target_stage!r}")
    now_at, target_at = stage_index(ctx.stages, current), stage_index(ctx.stages, row.target_stage)
    if now_at is not None and target_at is not None and target_at < now_at:
        return f"moving from {current!r} to {row.target_stage!r} would go backwards in the stage map"
    return None


def _done(ctx: WritebackContext, row: Writeback, modified: Optional[str], outcome: str) -> Writeback:
    if outcome == "written":
        ctx.echoes.record(row.product_id, row.id, _values(row), modified)
    return _finish(ctx, dataclasses.replace(row, written_modified=modified), WritebackState.done, outcome)


def _values(row: Writeback) -> dict[str, Any]:
    """What a write-back writes, as the echo log keeps it."""
    return {"attributes": row.attributes, "status": row.status}


def _conflict(ctx: WritebackContext, row: Writeback, why: str) -> Writeback:
    """Leave the task as it is, append a note to its description (once), then record the conflict."""
    note = (f"\n\n[{NOTE_MARKER} {row.id[:12]}] Not written back to Plytix on {ctx.now():%Y-%m-%d %H:%M} "
            f"UTC: {why}.")
    for task_id in row.task_ids:
        try:
            ctx.planner.update_details(task_id, description=lambda current: (
                None if f"{NOTE_MARKER} {row.id[:12]}" in current.description else current.description + note))
        except PlannerError as exc:  # the conflict is recorded anyway: the audit is the record of truth
            log.warning("could not add the conflict note to task %s: %s", task_id, exc)
    return _finish(ctx, row, WritebackState.conflict, why)


def _finish(ctx: WritebackContext, row: Writeback, state: WritebackState, outcome: str) -> Writeback:
    saved = ctx.outbox.save(dataclasses.replace(row, state=state, outcome=outcome, lease_until=None,
                                                next_attempt_at=None))
    action = {WritebackState.done: "write_back", WritebackState.conflict: "write_back:conflict",
              WritebackState.failed: "write_back:failed"}[state]
    ctx.stores.audit.append(AuditEntry(
        action=action, reason=f"{outcome} ({row.reason})", rule_id=row.rule_id, product_id=row.product_id,
        fingerprint=row.fingerprint, task_id=row.task_ids[0] if row.task_ids else None, run_id=ctx.run_id,
        details={"writeback": row.id, "attributes": row.attributes, "status": row.status,
                 "attempts": row.attempts}))
    log_event(log, "write_back", state=state.value, rule=row.rule_id, product=row.product_id,
              writeback=row.id, attempts=row.attempts, run_id=ctx.run_id)
    if state is WritebackState.done:
        COUNTERS.add(Count.writebacks)  # the writebacks metric
    return saved


def retry(ctx: WritebackContext, writeback_id: str) -> Optional[Writeback]:
    """Re-queue a poisoned (failed) row: back to pending with a fresh attempt budget. Other states are
    returned unchanged (a done write is never redone)."""
    row = ctx.outbox.get(writeback_id)
    if row is None or row.state is not WritebackState.failed:
        return row
    return ctx.outbox.save(dataclasses.replace(row, state=WritebackState.pending, attempts=0,
                                               next_attempt_at=None, lease_until=None,
                                               outcome=f"re-queued (was: {row.outcome})"))


def new_run_id() -> str:
    return secrets.token_hex(6)
