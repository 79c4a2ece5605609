"""Job 4, the reverse edge: a task a person completes in Planner moves its product on in Plytix.

completion.py turns a completed task into an outbox row (outbox.py), apply.py carries the row out exactly
once with its guards, echo.py remembers what we wrote so the change feed knows its own echo. The callers
are the completion watcher (shared/completion_watcher.py), the scans (shared/scan.py) and the
notification queue (shared/notifications.py); none of them writes to Plytix itself.
"""

from __future__ import annotations

from typing import Any

from shared.rules import RulesFile
from shared.store import Link, TableStores
from shared.writeback.apply import WritebackContext, process, retry
from shared.writeback.completion import Pending, on_complete_of, record_completion
from shared.writeback.echo import Echo, EchoLog
from shared.writeback.outbox import Outbox, Writeback, WritebackState


def writeback_context(deps: Any, run_id: str) -> WritebackContext:
    """The write-back's collaborators from a scan's or watcher's deps (settings, rules_file, plytix,
    planner, stores, clock; optional checkpoint and sleep for tests)."""
    extra = {name: getattr(deps, name) for name in ("checkpoint", "sleep") if getattr(deps, name, None)}
    return WritebackContext(stores=deps.stores, plytix=deps.plytix, planner=deps.planner,
                            stages=deps.rules_file.workflow_stages or (),
                            stage_attribute=deps.rules_file.workflow_stage_attribute,
                            max_attempts=deps.settings.WRITEBACK_MAX_ATTEMPTS, now=deps.clock, run_id=run_id,
                            **extra)


def queue_write_back(stores: TableStores, rules_file: RulesFile, link: Link, ctx: WritebackContext) -> None:
    """Record the write-back of a completed task (once, whoever calls first) and carry it out now."""
    found = record_completion(stores, rules_file, link)
    if isinstance(found, Writeback):
        process(ctx, found.id)


__all__ = ["Echo", "EchoLog", "Outbox", "Pending", "Writeback", "WritebackContext", "WritebackState",
           "on_complete_of", "process", "queue_write_back", "record_completion", "retry", "writeback_context"]
