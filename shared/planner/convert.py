"""Translation between our models and Graph's JSON: the only module that knows Graph's shapes.

Requests are msgraph-sdk models (kiota serialises them). Open types go through `additional_data`: the SDK
has no model for a single assignment, checklist item or reference (API_FACTS.md), so their JSON names and
`@odata.type` values are written as Graph documents them (plannertaskdetails-update.md,
plannerassignments.md, plannerexternalreferences.md).

Responses are read from their JSON. Why not the SDK's models: kiota's parser spends about 4 ms per task
(msgraph Entity.get_field_deserializers re-runs thousands of imports per object), i.e. ~10 s of CPU to
list a plan near its 2,400 active tasks, and it turns open-type strings that look like dates or GUIDs
into objects. json.loads reads a 400-task page in milliseconds and leaves strings alone.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Optional
from urllib.parse import unquote

from msgraph.generated.models.planner_applied_categories import PlannerAppliedCategories
from msgraph.generated.models.planner_assignments import PlannerAssignments
from msgraph.generated.models.planner_checklist_items import PlannerChecklistItems
from msgraph.generated.models.planner_external_references import PlannerExternalReferences
from msgraph.generated.models.planner_task import PlannerTask as GraphTask
from msgraph.generated.models.planner_task_details import PlannerTaskDetails as GraphTaskDetails

from shared.planner.errors import PlannerLimitError
from shared.planner.models import ChecklistItem, PlannerTask, Reference, TaskDetails, TaskSpec

ORDER_HINT_FIRST = " !"  # the documented hint for "put it first" (planner-order-hint-format.md)
ASSIGNMENT_TYPE = "#microsoft.graph.plannerAssignment"
CHECKLIST_ITEM_TYPE = "microsoft.graph.plannerChecklistItem"
REFERENCE_TYPE = "microsoft.graph.plannerExternalReference"
# plannertask-update.md: the properties a PATCH may carry. Others are read-only (e.g. completedDateTime).
WRITABLE_TASK_PROPERTIES = frozenset({
    "title", "bucketId", "priority", "percentComplete", "dueDateTime", "startDateTime", "appliedCategories",
    "assignments", "orderHint", "assigneePriority", "conversationThreadId", "previewType"})


def encode_reference_key(url: str) -> str:
    """plannerexternalreferences.md: property names cannot contain `. : % @ #`, so encode exactly those
    ('%' first, so a URL that already holds escapes survives the round trip)."""
    for char, escape in (("%", "%25"), (".", "%2E"), (":", "%3A"), ("@", "%40"), ("#", "%23")):
        url = url.replace(char, escape)
    return url


def decode_reference_key(key: str) -> str:
    return unquote(key)


def _datetime(value: Any) -> Optional[datetime]:
    """Graph's timestamps are ISO 8601 in UTC (plannertask.md); a missing offset still means UTC."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _identity_id(identity: Any) -> Optional[str]:
    """identitySet -> the user's object id, else the application's id."""
    for part in ("user", "application"):
        found = (identity or {}).get(part) or {}
        if found.get("id"):
            return str(found["id"])
    return None


def task_from_json(task: Mapping[str, Any]) -> PlannerTask:
    return PlannerTask(
        id=task["id"], plan_id=task.get("planId") or "", bucket_id=task.get("bucketId"),
        title=task.get("title") or "", percent_complete=int(task.get("percentComplete") or 0),
        etag=task.get("@odata.etag") or "", created=_datetime(task.get("createdDateTime")),
        completed=_datetime(task.get("completedDateTime")), completed_by=_identity_id(task.get("completedBy")),
        assignee_ids=tuple(sorted(k for k in (task.get("assignments") or {}) if not k.startswith("@"))),
        completed_by_app=_by_application(task.get("completedBy")),
        checklist_items=int(task.get("checklistItemCount") or 0),
        checklist_open=int(task.get("activeChecklistItemCount") or 0),
        categories=tuple(sorted(k for k, on in (task.get("appliedCategories") or {}).items()
                                if on is True and not k.startswith("@"))))


def _by_application(identity: Any) -> bool:
    """identitySet naming an application and no user: an app (this one) completed the task, not a person."""
    return bool((identity or {}).get("application")) and not (identity or {}).get("user")


def details_from_json(task_id: str, details: Mapping[str, Any]) -> TaskDetails:
    checklist = {key: ChecklistItem(key, item.get("title") or "", bool(item.get("isChecked")))
                 for key, item in (details.get("checklist") or {}).items() if isinstance(item, dict)}
    references = {}
    for key, ref in (details.get("references") or {}).items():
        if isinstance(ref, dict):
            url = decode_reference_key(key)
            references[url] = Reference(url, ref.get("alias") or "")
    return TaskDetails(task_id=task_id, description=details.get("description") or "", checklist=checklist,
                       references=references, etag=details.get("@odata.etag") or "")


def task_body(spec: TaskSpec) -> GraphTask:
    """The POST /planner/tasks body for a (validated) spec."""
    body = GraphTask(plan_id=spec.plan_id, bucket_id=spec.bucket_id, title=spec.title, priority=spec.priority,
                     due_date_time=spec.due, start_date_time=spec.start)
    if spec.assignee_ids:
        body.assignments = PlannerAssignments(additional_data={
            user_id: {"@odata.type": ASSIGNMENT_TYPE, "orderHint": ORDER_HINT_FIRST} for user_id in spec.assignee_ids})
    if spec.categories:
        body.applied_categories = PlannerAppliedCategories(additional_data=dict.fromkeys(spec.categories, True))
    return body


def details_body(description: Optional[str], checklist: Optional[Mapping[str, Optional[ChecklistItem]]],
                 references: Optional[Mapping[str, Optional[Reference]]]) -> GraphTaskDetails:
    """A PATCH /planner/tasks/{id}/details body: only what changes; None values remove an item."""
    body = GraphTaskDetails(description=description)
    if checklist is not None:
        body.checklist = PlannerChecklistItems(additional_data={
            key: None if item is None else
            {"@odata.type": CHECKLIST_ITEM_TYPE, "title": item.title, "isChecked": item.is_checked}
            for key, item in checklist.items()})
    if references is not None:
        body.references = PlannerExternalReferences(additional_data={
            encode_reference_key(url): None if ref is None else
            {"@odata.type": REFERENCE_TYPE, "alias": ref.alias, "type": "Other",
             "previewPriority": ORDER_HINT_FIRST}
            for url, ref in references.items()})
    return body


def task_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a PATCH's changes (Graph JSON names) and make datetimes JSON-ready."""
    unknown = sorted(set(changes) - WRITABLE_TASK_PROPERTIES)
    if unknown:
        raise PlannerLimitError(None, "ReadOnlyProperty", f"cannot change {', '.join(unknown)}; writable: "
                                f"{', '.join(sorted(WRITABLE_TASK_PROPERTIES))}")
    converted = {}
    for name, value in changes.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise PlannerLimitError(None, "InvalidDate", f"{name} must be timezone-aware")
            value = value.isoformat()
        converted[name] = value
    return converted
