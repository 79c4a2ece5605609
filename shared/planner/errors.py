"""Typed errors of the Planner client. No SDK or httpx type leaks out of shared.planner.

Why `may_have_acted`: the reconciler must know, after a failed write, whether Planner may have done it.
A 4xx, a 429 or a 503 is an answer that says "not done"; a dropped connection, a timeout or a 504 after
the request left says nothing, so a create must be settled by adoption (DESIGN.md), never by re-sending.
Messages carry Graph's error code and message only: never tokens, headers or request bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from shared.planner.models import PlannerTask


class PlannerError(Exception):
    """Graph answered an error, or the call failed. `status` is None when no HTTP answer arrived."""

    may_have_acted = False

    def __init__(self, status: Optional[int], code: str, message: str) -> None:
        super().__init__(f"{code} ({status if status is not None else 'no answer'}): {message}")
        self.status = status
        self.code = code
        self.message = message


class PlannerNotFound(PlannerError):
    """The task, plan, bucket or user does not exist (404)."""


class PlannerLimitError(PlannerError):
    """A Planner limit or rule is broken: checked locally before sending (status None), or Graph's 403
    with a Maximum* code (planner-overview.md, "Common Planner error conditions")."""


class PlannerStale(PlannerError):
    """A write sent with the etag the caller last stored met a newer version (412, or 409): someone wrote
    the resource since. Nothing was changed; the caller decides whether to re-read and re-apply."""


class PlannerThrottled(PlannerError):
    """Graph asked us to slow down (429, or 503 Service Unavailable) and did not act on the request.

    `retry_after` is the wait Graph asked for, in seconds, when it said."""

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[float]) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class PlannerUncertainWrite(PlannerError):
    """A write may or may not have happened (connection dropped, timed out, or 5xx after sending).

    For create_task, `task_id` (and `task`, as the POST returned it) is set when the task certainly exists
    but writing its details failed; it is None when even the POST's outcome is unknown: look for the task
    (adoption) before creating again."""

    may_have_acted = True

    def __init__(self, status: Optional[int], code: str, message: str, task_id: Optional[str] = None,
                 task: Optional["PlannerTask"] = None) -> None:
        super().__init__(status, code, message)
        self.task_id = task_id
        self.task = task
