"""The write-back's HTTP logic as plain functions: list rows by state, re-queue a poisoned one.

Why here and not in shared/api.py: it is the write-back's own surface (the blueprint adapts it, as for
every route), and it keeps shared/api.py about health, scans and the audit.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from shared.api import parse_limit
from shared.store import ConcurrentUpdate
from shared.writeback.apply import WritebackContext, retry
from shared.writeback.outbox import ID_LENGTH, Outbox, WritebackState

Reply = tuple[int, dict[str, Any]]
MAX_LIST = 1000
_ID = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")


def list_writebacks(outbox: Outbox, params: Mapping[str, str]) -> Reply:
    """GET /api/writebacks[?state=failed][&limit=N]: rows, oldest first (at most `limit`, default 200)."""
    state_text = (params.get("state") or "").strip()
    try:
        state = WritebackState(state_text) if state_text else None
    except ValueError:
        return 400, {"error": f"unknown state {state_text!r}", "allowed": [s.value for s in WritebackState]}
    limit = parse_limit(params, MAX_LIST)
    if isinstance(limit, str):
        return 400, {"error": limit}
    rows = []
    for row in outbox.list(state):
        rows.append(row)
        if len(rows) > MAX_LIST:
            break
    rows.sort(key=lambda r: r.created_at.isoformat() if r.created_at else "")
    return 200, {"state": state.value if state else None, "count": len(rows[:limit]),
                 "truncated": len(rows) > limit, "writebacks": [r.to_json() for r in rows[:limit]]}


def retry_writeback(ctx: WritebackContext, writeback_id: str) -> Reply:
    """POST /api/writebacks/{id}/retry: a failed (poisoned) row goes back to pending with a fresh budget;
    the next watcher run carries it out. 409 for a row in any other state: a done write is never redone."""
    if not _ID.match(writeback_id or ""):
        return 400, {"error": f"not a write-back id: expected {ID_LENGTH} lowercase hex characters"}
    before = ctx.outbox.get(writeback_id)
    if before is None:
        return 404, {"error": f"no write-back {writeback_id}"}
    if before.state is not WritebackState.failed:
        return 409, {"error": f"only failed write-backs can be retried; this one is {before.state.value}",
                     "writeback": before.to_json()}
    try:
        after = retry(ctx, writeback_id)
    except ConcurrentUpdate:
        return 409, {"error": "the write-back changed meanwhile; read it again"}
    return 202, {"writeback": after.to_json() if after else None}
