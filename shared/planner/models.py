"""What the rest of the app sees of Planner: small frozen dataclasses, no SDK types.

Why validate here, before any call: a task that breaks a Planner limit would be refused with a 403 AFTER
the POST created nothing useful, or worse, after the task exists and only its details fail. Checking the
documented limits first turns that into one clear local error. Limits: API_FACTS.md (20 checklist items,
20 assignees, 10 references; planner-overview.md names the 403 codes we reuse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Optional
from urllib.parse import urlsplit

from shared.planner.errors import PlannerLimitError

MAX_CHECKLIST_ITEMS = 20
MAX_ASSIGNEES = 20
MAX_REFERENCES = 10
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CATEGORY = re.compile(r"^category([1-9]|1[0-9]|2[0-5])$")


@dataclass(frozen=True)
class ChecklistItem:
    """One checklist line. `key` is a client-chosen GUID (plannertaskdetails-update.md), so we can find
    and tick our own items later."""

    key: str
    title: str
    is_checked: bool = False


@dataclass(frozen=True)
class Reference:
    """A link on the task (e.g. the product in Plytix). `url` is the plain URL; encoding is ours to do."""

    url: str
    alias: str


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to create one task with its details."""

    plan_id: str
    bucket_id: Optional[str]
    title: str
    assignee_ids: tuple[str, ...] = ()  # Entra object ids, not UPNs: see PlannerClient.resolve_user
    priority: int = 5  # Planner writes 1 urgent, 3 important, 5 medium, 9 low
    due: Optional[datetime] = None
    start: Optional[datetime] = None
    description: str = ""
    checklist: tuple[ChecklistItem, ...] = ()
    references: tuple[Reference, ...] = ()
    categories: tuple[str, ...] = ()  # "category1".."category25"


@dataclass(frozen=True)
class PlannerTask:
    id: str
    plan_id: str
    bucket_id: Optional[str]
    title: str
    percent_complete: int
    etag: str
    created: Optional[datetime]
    completed: Optional[datetime]
    completed_by: Optional[str]  # user object id, or the application id when an app completed it
    assignee_ids: tuple[str, ...]
    completed_by_app: bool = False  # completedBy names an application (us), not a person
    # Listed with every task (plannerTask resource): what a project's progress reads without a details GET.
    checklist_items: int = 0  # checklistItemCount
    checklist_open: int = 0  # activeChecklistItemCount: items not ticked
    categories: tuple[str, ...] = ()  # appliedCategories set to true, e.g. ("category1",)


@dataclass(frozen=True)
class TaskDetails:
    task_id: str
    description: str
    checklist: dict[str, ChecklistItem]  # by key
    references: dict[str, Reference]  # by plain URL
    etag: str


def _refuse(code: str, message: str) -> PlannerLimitError:
    return PlannerLimitError(None, code, message)


def check_checklist_items(items: list[ChecklistItem]) -> None:
    for item in items:
        if not _GUID.match(item.key):
            raise _refuse("InvalidChecklistItem", f"checklist key {item.key!r} must be a GUID")
        if not item.title.strip():
            raise _refuse("InvalidChecklistItem", f"checklist item {item.key} needs a title")


def check_reference_urls(urls: list[str]) -> None:
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise _refuse("InvalidReference", f"reference {url!r} must be an http(s) URL")


def check_counts(*, checklist: int = 0, references: int = 0, assignees: int = 0) -> None:
    """Raise PlannerLimitError naming the limit a task or its details would break."""
    if checklist > MAX_CHECKLIST_ITEMS:
        raise _refuse("MaximumChecklistItemsOnTask",
                      f"{checklist} checklist items; Planner allows at most {MAX_CHECKLIST_ITEMS} per task")
    if references > MAX_REFERENCES:
        raise _refuse("MaximumReferencesOnTask",
                      f"{references} references; Planner allows at most {MAX_REFERENCES} per task")
    if assignees > MAX_ASSIGNEES:
        raise _refuse("MaximumAssigneesInTasks",
                      f"{assignees} assignees; Planner allows at most {MAX_ASSIGNEES} per task")


def validate_spec(spec: TaskSpec) -> None:
    """Every rule Planner would enforce on this spec, checked before any call is made."""
    if not spec.title.strip():
        raise _refuse("InvalidTitle", "a task needs a non-empty title")
    if not spec.plan_id:
        raise _refuse("InvalidPlan", "a task needs a plan id")
    check_counts(checklist=len(spec.checklist), references=len(spec.references),
                 assignees=len(set(spec.assignee_ids)))
    for user_id in spec.assignee_ids:
        if not _GUID.match(user_id):
            raise _refuse("InvalidAssignee", f"assignee {user_id!r} is not an object id; resolve UPNs first")
    check_checklist_items(list(spec.checklist))
    if len({item.key for item in spec.checklist}) != len(spec.checklist):
        raise _refuse("InvalidChecklistItem", "checklist keys must be unique")
    check_reference_urls([ref.url for ref in spec.references])
    if len({ref.url for ref in spec.references}) != len(spec.references):
        raise _refuse("InvalidReference", "reference URLs must be unique")
    if isinstance(spec.priority, bool) or not isinstance(spec.priority, int) or not 0 <= spec.priority <= 10:
        raise _refuse("InvalidPriority", f"priority must be an integer from 0 to 10, not {spec.priority!r}")
    for category in spec.categories:
        if not _CATEGORY.match(category):
            raise _refuse("InvalidCategory", f"{category!r} is not one of category1..category25")
    for name, moment in (("due", spec.due), ("start", spec.start)):
        if moment is not None and moment.tzinfo is None:
            raise _refuse("InvalidDate", f"{name} must be timezone-aware (Planner stores UTC)")
    if spec.due and spec.start and spec.start > spec.due:
        raise _refuse("InvalidDate", "start is after due")
