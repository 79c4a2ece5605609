"""PLANNER_DELTA=beta: the completion watcher reads each plan with Graph's beta delta query instead of
listing every task, so a run where nothing changed costs one call per plan.

The query, as Microsoft documents it ("plannerTask: delta", beta,
https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta, and API_FACTS.md):
- app-only access must ask `GET /beta/planner/tasks/delta?$filter=planId eq '{id}'` with exactly
  `$select=percentComplete,assignments,creationSource`;
- a round is followed through its `@odata.nextLink`s to an `@odata.deltaLink`; the next round starts from
  that deltaLink and returns only what changed since (a deleted task as `{"id", "@removed"}`);
- a deltaLink Graph no longer knows answers 410: the sync state is gone, and a full round starts again.
The deltaLink of each plan is kept in the `cursors` table (`planner-delta-<plan id>`), saved only after
the watcher has acted on the round, so a run that dies in between sees the same changes again.

Why a task is sometimes re-read: the select leaves out `completedBy`, and a completion is a write-back
only when a person completed the task (our own closes are completed by the app). So a watched open task
that the round shows at 100 % is read once more with the v1.0 GET; everything else the round says
(reopened, reassigned, removed) is enough as it is.

Beta is not supported for production use, so any failure of it (an error answer, a malformed page, a 410
again right after a resync) falls back to the v1.0 listing for that plan in that run.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Optional
from urllib.parse import quote

from shared.observability import get_logger, log_event
from shared.planner import PlannerClient, PlannerError, PlannerTask
from shared.planner.convert import task_from_json
from shared.store import ConcurrentUpdate, Cursor, CursorStore, Link, LinkState

log = get_logger(__name__)
SELECT = "percentComplete,assignments,creationSource"  # exactly these: app-only delta refuses any other
GONE = 410


def cursor_name(plan_id: str) -> str:
    return f"planner-delta-{plan_id}"


def first_round_url(planner: PlannerClient, plan_id: str) -> str:
    plan_filter = quote(f"planId eq '{plan_id}'", safe="")
    return f"{planner.beta_url}/planner/tasks/delta?$filter={plan_filter}&$select={SELECT}"


def read_plan_delta(planner: PlannerClient, cursors: CursorStore, plan_id: str, links: Mapping[str, Link],
                    stats: "Counter[str]") -> tuple[dict[str, Optional[PlannerTask]], "DeltaCommit"]:
    """What changed in the plan for the watched `links` (task id -> link), by task id (None: gone), and
    the commit that stores the new deltaLink. Raises PlannerError when beta fails (the caller falls back).
    `stats` is a Counter that gets `delta_resync` when a 410 made the round start over."""
    cursor = cursors.get(cursor_name(plan_id))
    start = cursor.value.get("delta_link") if cursor else None
    try:
        items, delta_link = planner.delta_round(start or first_round_url(planner, plan_id))
    except PlannerError as exc:
        if exc.status != GONE or not start:
            raise
        stats["delta_resync"] += 1
        log_event(log, "planner_delta_resync", plan_id=plan_id)
        start = None
        items, delta_link = planner.delta_round(first_round_url(planner, plan_id))
    changed: dict[str, Optional[PlannerTask]] = {}
    for item in items:
        task_id = item.get("id")
        if not isinstance(task_id, str) or task_id not in links:
            continue
        if "@removed" in item:
            changed[task_id] = None
            continue
        seen = task_from_json(item)
        if seen.percent_complete >= 100 and links[task_id].state is LinkState.open:
            changed[task_id] = planner.get_task(task_id)  # who completed it: a person, or us?
        else:
            changed[task_id] = seen
    if start is None:  # a first round names every task of the plan: a watched one it lacks is gone
        named = {item.get("id") for item in items}
        changed.update({task_id: None for task_id in links if task_id not in named})
    return changed, DeltaCommit(cursors, cursor_name(plan_id), delta_link, cursor.etag if cursor else None)


class DeltaCommit:
    """Stores the round's deltaLink once the watcher has acted on the round."""

    def __init__(self, cursors: CursorStore, name: str, delta_link: str, etag: Optional[str]) -> None:
        self._cursors, self._name, self._delta_link, self._etag = cursors, name, delta_link, etag

    def __call__(self) -> None:
        try:
            self._cursors.save(Cursor(self._name, {"delta_link": self._delta_link}, etag=self._etag))
        except ConcurrentUpdate:
            pass  # another watcher stored its round first; either link covers what both acted on
