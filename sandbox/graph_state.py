"""The Planner stand-in's data: users, a group, plans, buckets, tasks and task details, with Graph's rules.

Why a separate module: the HTTP layer (sandbox/graph.py) only parses requests and picks a handler; every
rule the real service enforces (etags, limits, open-type shapes, completion bookkeeping) lives here, in
one place, so $batch inner requests and the admin API go through exactly the same checks.

Sources for the rules (Microsoft Graph docs, microsoftgraph/microsoft-graph-docs-contrib, v1.0):
- resources/planner-overview.md: "PATCH and DELETE requests require the last etag known by the client to be
  specified with a If-Match header"; 409/412 on version conflicts; 403 with `code` naming the limit
  (MaximumTasksInProject, MaximumActiveTasksInProject, MaximumReferencesOnTask, MaximumChecklistItemsOnTask,
  MaximumAssigneesInTasks, ...); 400 when an open-type value lacks its `@odata.type`, or the start date is
  after the due date.
- resources/plannertask.md: priority 0-10; completedDateTime/completedBy are read-only and set when
  percentComplete reaches 100; hasDescription, checklistItemCount, activeChecklistItemCount and
  referenceCount mirror the details; ids are 28 characters.
- api/plannertaskdetails-update.md: 204, or 200 with the body for `Prefer: return=representation`;
  a null value removes a checklist item or reference.
- resources/plannerexternalreferences.md: reference keys are the URL with `. : % @ #` percent-encoded.
- Limits 20 checklist items / 20 assignees / 10 references / 9,000 tasks / 2,400 active tasks: API_FACTS.md.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from sandbox.base import HttpError

# --- Seed data: constant across seeds, so the demo, the tests and people can name them. ---------------
TENANT_DOMAIN = "contoso.example"
_NAMESPACE = uuid.UUID("5f0c2a57-6a43-4c1f-9d3e-2b7a8f1e0c11")


def _object_id(name: str) -> str:
    """A stable Entra-style object id (GUID) for a seeded directory object."""
    return str(uuid.uuid5(_NAMESPACE, name))


def _planner_id(name: str) -> str:
    """A stable 28-character, case-sensitive Planner id (plannertask.md: ids are 28 characters)."""
    digest = hashlib.sha256(name.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:28]


# (user principal name, display name, job title)
_SEED_USERS = (
    (f"merch.lead@{TENANT_DOMAIN}", "Maya Lind", "Merchandising Lead"),
    (f"content.editor@{TENANT_DOMAIN}", "Carlos Ortega", "Content Editor"),
    (f"data.steward@{TENANT_DOMAIN}", "Dana Whitfield", "Data Steward"),
    (f"compliance.officer@{TENANT_DOMAIN}", "Priya Raman", "Compliance Officer"),
    (f"channel.amazon@{TENANT_DOMAIN}", "Sam Okafor", "Marketplace Manager, Amazon"),
    (f"channel.retail@{TENANT_DOMAIN}", "Ines Moreau", "Retail Channel Manager"),
    (f"catalog.manager@{TENANT_DOMAIN}", "Lena Fischer", "Catalog Manager"),
)
USER_IDS: dict[str, str] = {upn: _object_id(f"user:{upn}") for upn, _, _ in _SEED_USERS}
GROUP_ID = _object_id("group:product-content-team")
GROUP_NAME = "Product Content Team"
# The application identity the development token stands for (app-only calls: createdBy.application).
SANDBOX_APP_ID = _object_id("app:plytix-planner-automation")

PRODUCT_DATA_PLAN_ID = _planner_id("plan:product-data")
CATALOG_PLAN_ID = _planner_id("plan:catalog-projects")
SEED_PLANS: dict[str, tuple[str, tuple[str, ...]]] = {
    PRODUCT_DATA_PLAN_ID: ("Product data", ("Missing data", "Launch", "Reviews", "Channels", "Data quality")),
    CATALOG_PLAN_ID: ("Catalog projects", ("Season refresh", "Rebrand")),
}
BUCKET_IDS: dict[str, dict[str, str]] = {
    plan_id: {name: _planner_id(f"bucket:{plan_id}:{name}") for name in names}
    for plan_id, (_, names) in SEED_PLANS.items()
}

# --- Limits (API_FACTS.md; planner-overview.md for the codes) ------------------------------------------
MAX_ASSIGNEES = 20
MAX_CHECKLIST_ITEMS = 20
MAX_REFERENCES = 10
MAX_TASKS_PER_PLAN = 9000
MAX_ACTIVE_TASKS_PER_PLAN = 2400

PREVIEW_TYPES = ("automatic", "noPreview", "checklist", "description", "reference")
_CATEGORY = re.compile(r"^category([1-9]|1[0-9]|2[0-5])$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# plannerexternalreferences.md: property names cannot contain these characters, so they are encoded.
_REFERENCE_KEY_FORBIDDEN = re.compile(r"[.:@#]|%(?![0-9A-Fa-f]{2})")


def graph_error(status: int, code: str, message: str, headers: Optional[dict[str, str]] = None) -> HttpError:
    """An HttpError carrying Graph's error shape (graph/errors: error.code, error.message, innerError)."""
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": _now_text(), "request-id": str(uuid.uuid4())}}}
    return HttpError(status, body, headers)


def _now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _odata_type_ok(value: dict[str, Any], type_name: str) -> bool:
    """Open-type values must declare their type, with or without the leading '#' (planner-overview.md)."""
    return value.get("@odata.type") in (type_name, f"#{type_name}")


def _bad_request(message: str) -> HttpError:
    return graph_error(400, "BadRequest", message)


def _parse_datetime(name: str, value: Any) -> Optional[datetime]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad_request(f"Property '{name}' must be an ISO 8601 date-time string or null.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_request(f"Cannot convert '{value}' of property '{name}' to DateTimeOffset.") from None
    if parsed.tzinfo is None:
        raise _bad_request(f"Property '{name}' needs a UTC offset (e.g. 'Z').")
    return parsed.astimezone(timezone.utc)


def _datetime_text(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_reference_key(key: str) -> str:
    """The URL behind an encoded reference key (only `. : % @ #` are encoded, as in the docs' examples)."""
    return unquote(key)


@dataclass
class _TaskRecord:
    """One task: its Graph JSON, its details' JSON, and the bookkeeping the real service keeps inside."""

    task: dict[str, Any]
    details: dict[str, Any]
    seq: int  # creation order: the stable order of plan listings
    changed: int  # version of the last change, for delta queries
    details_lag: int = 0  # how many more details reads/writes answer 404 (replication lag after create)


@dataclass
class _Tombstone:
    plan_id: str
    task_id: str
    changed: int


@dataclass
class SandboxConfig:
    """Switches tests and people flip through POST /_sandbox/config."""

    details_404_calls: int = 0
    delta_gone: bool = False


@dataclass
class PlannerState:
    """Everything the stand-in knows. Not thread-safe by itself: the App's lock serialises handlers."""

    seed: int = 7
    config: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._version = 0
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.buckets: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, _TaskRecord] = {}
        self.tombstones: list[_Tombstone] = []
        self._seed()

    # --- seeding -----------------------------------------------------------------------------------
    def _seed(self) -> None:
        for upn, name, title in _SEED_USERS:
            given, surname = name.split(" ", 1)
            self.users[USER_IDS[upn]] = {
                "businessPhones": [], "displayName": name, "givenName": given, "jobTitle": title,
                "mail": upn, "mobilePhone": None, "officeLocation": None, "preferredLanguage": "en-US",
                "surname": surname, "userPrincipalName": upn, "id": USER_IDS[upn]}
        self.groups[GROUP_ID] = {"id": GROUP_ID, "displayName": GROUP_NAME}
        for plan_id, (title, bucket_names) in SEED_PLANS.items():
            self._add_plan(plan_id, GROUP_ID, title)
            for name in bucket_names:
                self._add_bucket(BUCKET_IDS[plan_id][name], plan_id, name)

    # --- ids, versions, etags -------------------------------------------------------------------
    def new_planner_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self._rng.choice(alphabet) for _ in range(28))

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    @property
    def version(self) -> int:
        """The newest version handed out; delta tokens remember it."""
        return self._version

    def _etag(self, kind: str) -> str:
        # Real etags look like W/"JzEtVGFzayAgQEBAQEBAQEBAQEBAQEBAWCc=" (base64 of "'1-Task  @@@...X'").
        raw = f"'1-{kind} {self._next_version():020d}'".encode()
        return f'W/"{base64.b64encode(raw).decode()}"'

    @staticmethod
    def check_if_match(resource: dict[str, Any], if_match: Optional[str]) -> None:
        """planner-overview.md: PATCH/DELETE need the last known etag; a stale one is a 412."""
        if if_match is None or not if_match.strip():
            raise _bad_request("The If-Match header must be specified for this kind of request.")
        if if_match.strip() == "*":
            raise _bad_request("The If-Match header value '*' is not supported: send the resource's etag.")
        if if_match.strip() != resource["@odata.etag"]:
            raise graph_error(412, "PreconditionFailed",
                              "The If-Match header value does not match the current version of the resource.")

    # --- identities ----------------------------------------------------------------------------------
    def find_user(self, id_or_upn: str) -> Optional[dict[str, Any]]:
        if id_or_upn in self.users:
            return self.users[id_or_upn]
        wanted = id_or_upn.lower()
        return next((u for u in self.users.values() if u["userPrincipalName"].lower() == wanted), None)

    @staticmethod
    def app_identity() -> dict[str, Any]:
        return {"user": None, "application": {"displayName": None, "id": SANDBOX_APP_ID}}

    @staticmethod
    def user_identity(user_id: str) -> dict[str, Any]:
        return {"user": {"displayName": None, "id": user_id}}

    # --- plans and buckets -----------------------------------------------------------------------
    def _add_plan(self, plan_id: str, group_id: str, title: str) -> dict[str, Any]:
        url = f"https://graph.microsoft.com/v1.0/groups/{group_id}"
        plan = {"@odata.etag": self._etag("Plan"), "createdDateTime": _now_text(), "owner": group_id,
                "title": title, "id": plan_id, "createdBy": self.app_identity(),
                "container": {"containerId": group_id, "type": "group", "url": url}}
        self.plans[plan_id] = plan
        return plan

    def _add_bucket(self, bucket_id: str, plan_id: str, name: str) -> dict[str, Any]:
        order = f"{8585000000000000000 - len(self.buckets):019d}P"
        bucket = {"@odata.etag": self._etag("Bucket"), "name": name, "planId": plan_id,
                  "orderHint": order, "id": bucket_id}
        self.buckets[bucket_id] = bucket
        return bucket

    def group_plans(self, group_id: str) -> list[dict[str, Any]]:
        """GET /groups/{id}/planner/plans: the plans a Microsoft 365 group contains (404 for no such group)."""
        if group_id not in self.groups:
            raise graph_error(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist.")
        return [plan for plan in self.plans.values() if plan["container"]["containerId"] == group_id]

    def require_plan(self, plan_id: str) -> dict[str, Any]:
        plan = self.plans.get(plan_id)
        if plan is None:
            raise graph_error(404, "NotFound", "The requested item is not found.")
        return plan

    def create_plan(self, body: Any) -> dict[str, Any]:
        """POST /planner/plans {"container": {"url": ".../groups/{id}"}, "title": ...} (or the older
        {"owner": groupId})."""
        if not isinstance(body, dict):
            raise _bad_request("The request body must be a JSON object.")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _bad_request("The 'title' property is required.")
        container = body.get("container")
        group_id = body.get("owner")
        if isinstance(container, dict):
            group_id = container.get("containerId") or urlsplit(str(container.get("url", ""))).path.rsplit("/", 1)[-1]
        if not group_id:
            raise _bad_request("A plan needs a container: {\"container\": {\"url\": \".../groups/{id}\"}}.")
        if group_id not in self.groups:
            raise graph_error(404, "NotFound", f"The container group '{group_id}' does not exist.")
        return self._add_plan(self.new_planner_id(), group_id, title)

    def create_bucket(self, body: Any) -> dict[str, Any]:
        """POST /planner/buckets {name, planId, orderHint}."""
        if not isinstance(body, dict):
            raise _bad_request("The request body must be a JSON object.")
        name, plan_id = body.get("name"), body.get("planId")
        if not isinstance(name, str) or not name.strip():
            raise _bad_request("The 'name' property is required.")
        if not isinstance(plan_id, str):
            raise _bad_request("The 'planId' property is required.")
        self.require_plan(plan_id)
        return self._add_bucket(self.new_planner_id(), plan_id, name)

    def plan_buckets(self, plan_id: str) -> list[dict[str, Any]]:
        self.require_plan(plan_id)
        return [b for b in self.buckets.values() if b["planId"] == plan_id]

    # --- tasks --------------------------------------------------------------------------------------
    def require_task(self, task_id: str) -> _TaskRecord:
        record = self.tasks.get(task_id)
        if record is None:
            raise graph_error(404, "NotFound", "The requested item is not found.")
        return record

    def plan_records(self, plan_id: str) -> list[_TaskRecord]:
        """The plan's tasks in creation order (listings page through this stable order)."""
        self.require_plan(plan_id)
        return sorted((r for r in self.tasks.values() if r.task["planId"] == plan_id), key=lambda r: r.seq)

    def _plan_counts(self, plan_id: str) -> tuple[int, int]:
        total = active = 0
        for record in self.tasks.values():
            if record.task["planId"] == plan_id:
                total += 1
                active += record.task["percentComplete"] < 100
        return total, active

    def create_task(self, body: Any) -> dict[str, Any]:
        """POST /planner/tasks: validate like the service, enforce plan limits, return the new task."""
        if not isinstance(body, dict):
            raise _bad_request("The request body must be a JSON object.")
        plan_id = body.get("planId")
        if not isinstance(plan_id, str) or not plan_id:
            raise _bad_request("The 'planId' property is required.")
        self.require_plan(plan_id)
        allowed = _TASK_WRITABLE | {"planId", "@odata.type"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _bad_request(f"Properties cannot be set on create: {', '.join(unknown)}.")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _bad_request("The 'title' property is required.")
        total, active = self._plan_counts(plan_id)
        if total >= MAX_TASKS_PER_PLAN:
            raise graph_error(403, "MaximumTasksInProject",
                              f"The plan already holds {MAX_TASKS_PER_PLAN} tasks.")
        completing = body.get("percentComplete", 0) == 100
        if active >= MAX_ACTIVE_TASKS_PER_PLAN and not completing:
            raise graph_error(403, "MaximumActiveTasksInProject",
                              f"The plan already holds {MAX_ACTIVE_TASKS_PER_PLAN} tasks that are not complete.")
        task = self._new_task(plan_id, title, order=len(self.tasks))
        self._apply_task_changes(task, {k: v for k, v in body.items() if k not in ("planId", "@odata.type")},
                                 self.app_identity())
        return self._insert(task, details_lag=self.config.details_404_calls).task

    def _new_task(self, plan_id: str, title: str, order: int) -> dict[str, Any]:
        """A task as GET returns it in v1.0 (which has no lastModifiedDateTime), before any writes."""
        return {"@odata.etag": "", "planId": plan_id, "bucketId": None, "title": title,
                "orderHint": f"{8585000000000000000 - order:019d}P!", "assigneePriority": "",
                "percentComplete": 0, "startDateTime": None, "createdDateTime": _now_text(), "dueDateTime": None,
                "hasDescription": False, "previewType": "automatic", "completedDateTime": None,
                "completedBy": None, "referenceCount": 0, "checklistItemCount": 0, "activeChecklistItemCount": 0,
                "conversationThreadId": None, "priority": 5, "id": self.new_planner_id(),
                "createdBy": self.app_identity(), "appliedCategories": {}, "assignments": {}}

    def _insert(self, task: dict[str, Any], details_lag: int = 0) -> _TaskRecord:
        task["@odata.etag"] = self._etag("Task")
        details = {"@odata.etag": self._etag("TaskDetails"), "description": "", "previewType": "automatic",
                   "references": {}, "checklist": {}, "id": task["id"]}
        record = _TaskRecord(task, details, seq=self._version, changed=self._version, details_lag=details_lag)
        self.tasks[task["id"]] = record
        return record

    def update_task(self, task_id: str, body: Any, if_match: Optional[str]) -> dict[str, Any]:
        record = self.require_task(task_id)
        self.check_if_match(record.task, if_match)
        if not isinstance(body, dict):
            raise _bad_request("The request body must be a JSON object.")
        unknown = sorted(set(body) - _TASK_WRITABLE - {"@odata.type"})
        if unknown:
            raise _bad_request(f"Properties are read-only or unknown: {', '.join(unknown)}.")
        updated = dict(record.task)
        self._apply_task_changes(updated, {k: v for k, v in body.items() if k != "@odata.type"},
                                 self.app_identity())
        if updated["percentComplete"] < 100 <= record.task["percentComplete"]:
            _, active = self._plan_counts(record.task["planId"])
            if active >= MAX_ACTIVE_TASKS_PER_PLAN:
                raise graph_error(403, "MaximumActiveTasksInProject",
                                  f"Reopening would exceed {MAX_ACTIVE_TASKS_PER_PLAN} active tasks.")
        self._store_task(record, updated)
        return record.task

    def _store_task(self, record: _TaskRecord, task: dict[str, Any]) -> None:
        task["@odata.etag"] = self._etag("Task")
        record.task = task
        record.changed = self._version

    def set_completion(self, task_id: str, percent: int, by: dict[str, Any]) -> dict[str, Any]:
        """A person completes or reopens a task in Planner (the admin API's way in)."""
        record = self.require_task(task_id)
        updated = dict(record.task)
        self._apply_task_changes(updated, {"percentComplete": percent}, by)
        self._store_task(record, updated)
        return record.task

    def set_assignees(self, task_id: str, user_ids: list[str], by: dict[str, Any]) -> dict[str, Any]:
        """A person reassigns a task in Planner: exactly these users hold it afterwards."""
        record = self.require_task(task_id)
        updated = dict(record.task)
        change: dict[str, Any] = {user_id: None for user_id in updated["assignments"] if user_id not in user_ids}
        change.update({user_id: {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"}
                       for user_id in user_ids if user_id not in updated["assignments"]})
        self._apply_task_changes(updated, {"assignments": change}, by)
        self._store_task(record, updated)
        return record.task

    def delete_task(self, task_id: str, if_match: Optional[str]) -> None:
        record = self.require_task(task_id)
        self.check_if_match(record.task, if_match)
        self.remove_task(task_id)

    def remove_bucket(self, bucket_id: str) -> None:
        """A person deletes a bucket in Planner: its tasks go with it (as in the Planner UI)."""
        if bucket_id not in self.buckets:
            raise graph_error(404, "NotFound", f"No bucket '{bucket_id}'.")
        for task_id in [t for t, r in self.tasks.items() if r.task.get("bucketId") == bucket_id]:
            self.remove_task(task_id)
        del self.buckets[bucket_id]

    def remove_task(self, task_id: str) -> None:
        """Delete without an etag: a person deleting the task in the Planner UI."""
        record = self.require_task(task_id)
        del self.tasks[task_id]
        self.tombstones.append(_Tombstone(record.task["planId"], task_id, self._next_version()))

    def _apply_task_changes(self, task: dict[str, Any], changes: dict[str, Any], actor: dict[str, Any]) -> None:
        """Validate and apply writable task properties onto `task` (a copy: nothing changes on error)."""
        for name, value in changes.items():
            if name == "title":
                if not isinstance(value, str) or not value.strip():
                    raise _bad_request("The 'title' property must be a non-empty string.")
                task["title"] = value
            elif name == "bucketId":
                if value is not None and (value not in self.buckets or self.buckets[value]["planId"] != task["planId"]):
                    raise _bad_request(f"The bucket '{value}' does not belong to the task's plan.")
                task["bucketId"] = value
            elif name == "priority":
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
                    raise _bad_request("The 'priority' property must be an integer from 0 to 10.")
                task["priority"] = value
            elif name == "percentComplete":
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                    raise _bad_request("The 'percentComplete' property must be an integer from 0 to 100.")
                self._set_percent(task, value, actor)
            elif name in ("dueDateTime", "startDateTime"):
                task[name] = _datetime_text(_parse_datetime(name, value))
            elif name == "appliedCategories":
                task["appliedCategories"] = _merge_categories(task["appliedCategories"], value)
            elif name == "assignments":
                task["assignments"] = self._merge_assignments(task["assignments"], value, actor)
            elif name == "previewType":
                if value not in PREVIEW_TYPES:
                    raise _bad_request(f"The 'previewType' property must be one of {', '.join(PREVIEW_TYPES)}.")
                task["previewType"] = value
            elif name in ("orderHint", "assigneePriority", "conversationThreadId"):
                if value is not None and not isinstance(value, str):
                    raise _bad_request(f"The '{name}' property must be a string.")
                task[name] = value
        start, due = task["startDateTime"], task["dueDateTime"]
        if start and due and start > due:
            raise _bad_request("The start date of the task is later than its due date.")

    @staticmethod
    def _set_percent(task: dict[str, Any], value: int, actor: dict[str, Any]) -> None:
        if value == 100 and task["percentComplete"] < 100:
            task["completedDateTime"], task["completedBy"] = _now_text(), actor
        elif value < 100:
            task["completedDateTime"], task["completedBy"] = None, None
        task["percentComplete"] = value

    def _merge_assignments(self, current: dict[str, Any], value: Any, actor: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _bad_request("The 'assignments' property must be an object keyed by user id.")
        merged = dict(current)
        for user_id, assignment in value.items():
            if not _GUID.match(user_id):
                raise _bad_request(f"Assignment key '{user_id}' is not a user object id (GUID); "
                                   "resolve user principal names with GET /users/{upn} first.")
            if assignment is None:
                merged.pop(user_id, None)
                continue
            if not isinstance(assignment, dict) or not _odata_type_ok(assignment, "microsoft.graph.plannerAssignment"):
                raise _bad_request("An assignment must declare "
                                   "\"@odata.type\": \"#microsoft.graph.plannerAssignment\".")
            if not isinstance(assignment.get("orderHint"), str):
                raise _bad_request("An assignment must specify its 'orderHint' (e.g. \" !\").")
            merged[user_id] = {"@odata.type": "#microsoft.graph.plannerAssignment",
                               "assignedDateTime": _now_text(), "orderHint": f"{8585}{len(merged)}!",
                               "assignedBy": actor}
        if len(merged) > MAX_ASSIGNEES:
            raise graph_error(403, "MaximumAssigneesInTasks",
                              f"A task can have at most {MAX_ASSIGNEES} assignees ({len(merged)} requested).")
        return merged

    # --- details ---------------------------------------------------------------------------------
    def _details_record(self, task_id: str) -> _TaskRecord:
        """The task's record for a details call; new details may 404 for a while (replication lag)."""
        record = self.require_task(task_id)
        if record.details_lag > 0:
            record.details_lag -= 1
            raise graph_error(404, "NotFound", "The requested item is not found.")
        return record

    def get_details(self, task_id: str) -> dict[str, Any]:
        return self._details_record(task_id).details

    def update_details(self, task_id: str, body: Any, if_match: Optional[str]) -> dict[str, Any]:
        record = self._details_record(task_id)
        self.check_if_match(record.details, if_match)
        if not isinstance(body, dict):
            raise _bad_request("The request body must be a JSON object.")
        unknown = sorted(set(body) - {"description", "previewType", "checklist", "references", "@odata.type"})
        if unknown:
            raise _bad_request(f"Properties are read-only or unknown: {', '.join(unknown)}.")
        details = dict(record.details)
        if "description" in body:
            if body["description"] is not None and not isinstance(body["description"], str):
                raise _bad_request("The 'description' property must be a string.")
            details["description"] = body["description"] or ""
        if "previewType" in body:
            if body["previewType"] not in PREVIEW_TYPES:
                raise _bad_request(f"The 'previewType' property must be one of {', '.join(PREVIEW_TYPES)}.")
            details["previewType"] = body["previewType"]
        if "checklist" in body:
            details["checklist"] = _merge_checklist(details["checklist"], body["checklist"])
        if "references" in body:
            details["references"] = _merge_references(details["references"], body["references"])
        self._store_details(record, details)
        return record.details

    def set_checklist_item(self, task_id: str, key: str, changes: Any) -> dict[str, Any]:
        """A person ticks (or edits) one checklist item in the Planner UI."""
        record = self.require_task(task_id)
        if key not in record.details["checklist"]:
            raise graph_error(404, "NotFound", f"The task has no checklist item '{key}'.")
        if not isinstance(changes, dict) or not changes:
            raise _bad_request("Send {\"isChecked\": true|false} and/or {\"title\": ...}.")
        item = {"@odata.type": "microsoft.graph.plannerChecklistItem", **changes}
        details = dict(record.details)
        details["checklist"] = _merge_checklist(details["checklist"], {key: item})
        self._store_details(record, details)
        return record.details

    def _store_details(self, record: _TaskRecord, details: dict[str, Any]) -> None:
        """Save new details and mirror the counts the task carries (plannertask.md). The task's etag
        changes when those counts change: UNVERIFIED against the real service, and harmless either way
        for a client that re-reads on 412."""
        details["@odata.etag"] = self._etag("TaskDetails")
        record.details = details
        checklist = details["checklist"].values()
        mirrored = {"hasDescription": bool(details["description"]),
                    "checklistItemCount": len(details["checklist"]),
                    "activeChecklistItemCount": sum(1 for item in checklist if not item["isChecked"]),
                    "referenceCount": len(details["references"])}
        if any(record.task[k] != v for k, v in mirrored.items()):
            self._store_task(record, {**record.task, **mirrored})

    # --- delta -------------------------------------------------------------------------------------
    def changes_since(self, plan_id: str, since: int, until: int, *, include_removed: bool
                      ) -> list[tuple[int, str, Optional[dict[str, Any]]]]:
        """(version, task id, task or None when deleted) changed in (since, until], oldest first.

        A first delta round lists what exists; later rounds also report deletions (delta-query-overview)."""
        changed: list[tuple[int, str, Optional[dict[str, Any]]]] = [
            (r.changed, r.task["id"], r.task) for r in self.tasks.values()
            if r.task["planId"] == plan_id and since < r.changed <= until]
        if include_removed:
            changed += [(t.changed, t.task_id, None) for t in self.tombstones
                        if t.plan_id == plan_id and since < t.changed <= until]
        return sorted(changed, key=lambda c: c[0])

    # --- bulk seeding for tests and benches ---------------------------------------------------------
    def seed_tasks(self, plan_id: str, count: int, *, completed: bool = False, title: str = "Seeded task") -> list[str]:
        """Add `count` tasks directly (no limits, no lag): fills plans for paging and limit tests fast."""
        self.require_plan(plan_id)
        ids = []
        for number in range(count):
            task = self._new_task(plan_id, f"{title} {number + 1}", order=len(self.tasks))
            if completed:
                self._set_percent(task, 100, self.app_identity())
            ids.append(self._insert(task).task["id"])
        return ids


# Properties a client may send on POST /planner/tasks and PATCH /planner/tasks/{id} (planner-post-tasks.md,
# plannertask-update.md). Everything else is read-only or unknown and answers 400.
_TASK_WRITABLE = frozenset({"title", "bucketId", "priority", "percentComplete", "dueDateTime", "startDateTime",
                            "appliedCategories", "assignments", "orderHint", "assigneePriority",
                            "conversationThreadId", "previewType"})


def _merge_categories(current: dict[str, Any], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_request("The 'appliedCategories' property must be an object like {\"category3\": true}.")
    merged = dict(current)
    for name, flag in value.items():
        if name == "@odata.type":
            continue
        if not _CATEGORY.match(name) or not isinstance(flag, bool):
            raise _bad_request(f"Applied category '{name}' is invalid: use category1..category25 with true/false.")
        if flag:
            merged[name] = True
        else:
            merged.pop(name, None)
    return merged


def _merge_checklist(current: dict[str, Any], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_request("The 'checklist' property must be an object keyed by client-generated GUIDs.")
    merged = dict(current)
    for key, item in value.items():
        if key == "@odata.type":
            continue
        if not _GUID.match(key):
            raise _bad_request(f"Checklist item key '{key}' must be a client-generated GUID.")
        if item is None:
            merged.pop(key, None)
            continue
        if not isinstance(item, dict) or not _odata_type_ok(item, "microsoft.graph.plannerChecklistItem"):
            raise _bad_request("A checklist item must declare "
                               "\"@odata.type\": \"microsoft.graph.plannerChecklistItem\".")
        existing = merged.get(key)
        title = item.get("title", existing["title"] if existing else None)
        if not isinstance(title, str) or not title.strip():
            raise _bad_request(f"Checklist item '{key}' needs a non-empty 'title'.")
        is_checked = item.get("isChecked", existing["isChecked"] if existing else False)
        if not isinstance(is_checked, bool):
            raise _bad_request(f"Checklist item '{key}': 'isChecked' must be true or false.")
        merged[key] = {"@odata.type": "#microsoft.graph.plannerChecklistItem", "isChecked": is_checked,
                       "title": title, "orderHint": item.get("orderHint") or (existing or {}).get("orderHint") or
                       f"{8585000000 - len(merged)}P!", "lastModifiedDateTime": _now_text()}
    if len(merged) > MAX_CHECKLIST_ITEMS:
        raise graph_error(403, "MaximumChecklistItemsOnTask",
                          f"A task can have at most {MAX_CHECKLIST_ITEMS} checklist items ({len(merged)} requested).")
    return merged


def _merge_references(current: dict[str, Any], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_request("The 'references' property must be an object keyed by encoded URLs.")
    merged = dict(current)
    for key, reference in value.items():
        if key == "@odata.type":
            continue
        if _REFERENCE_KEY_FORBIDDEN.search(key):
            raise _bad_request(f"Reference key '{key}' must encode '.', ':', '%', '@' and '#' "
                               "(e.g. https%3A//contoso%2Ecom/page).")
        if urlsplit(decode_reference_key(key)).scheme not in ("http", "https"):
            raise _bad_request(f"Reference key '{key}' is not an http(s) URL.")
        if reference is None:
            merged.pop(key, None)
            continue
        if not isinstance(reference, dict) or not (
                _odata_type_ok(reference, "microsoft.graph.plannerExternalReference")
                or _odata_type_ok(reference, "microsoft.graph.externalReference")):
            raise _bad_request("A reference must declare "
                               "\"@odata.type\": \"microsoft.graph.plannerExternalReference\".")
        existing = merged.get(key) or {}
        merged[key] = {"@odata.type": "#microsoft.graph.plannerExternalReference",
                       "alias": reference.get("alias", existing.get("alias")),
                       "type": reference.get("type", existing.get("type", "Other")),
                       "previewPriority": reference.get("previewPriority") or existing.get("previewPriority") or " !",
                       "lastModifiedDateTime": _now_text()}
    if len(merged) > MAX_REFERENCES:
        raise graph_error(403, "MaximumReferencesOnTask",
                          f"A task can have at most {MAX_REFERENCES} references ({len(merged)} requested).")
    return merged
