"""PlannerClient: a synchronous facade over the async msgraph-sdk, with Planner's write discipline built in.

Why each rule exists (API_FACTS.md unless noted):
- The SDK's RetryHandler re-sends POST on 429/503/504, so a retried POST /planner/tasks can create a
  duplicate task. We switch that handler off for the whole client (our own loop below retries, so every
  attempt is counted and bounded) AND per request on every create, so re-enabling it globally later
  still cannot re-send a create. A create that fails raises a typed error saying whether Graph may have
  acted (errors.py); the reconciler settles the uncertain case by adoption.
- Idempotent calls (GET, PATCH/DELETE with If-Match) are retried on 429/503/504 and on lost connections,
  waiting Retry-After when Graph sends it (learn.microsoft.com/graph/throttling: "Wait the number of
  seconds specified in the Retry-After header"). A PATCH repeated after a lost answer either finds its own
  change applied (412: the etag moved) or applies it now: both end in the same state.
- PATCH and DELETE need If-Match; on 412 (or 409) we re-read and re-apply only our own changes, so a
  person's concurrent edits to other fields are kept (planner-overview.md: "read the resource again").
- Task details are a separate resource with their own etag and may 404 briefly after the task is created.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from functools import partial
from typing import (
    Any,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    TypeVar,
    Union,
)

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.planner_bucket import PlannerBucket
from msgraph.generated.models.planner_plan import PlannerPlan
from msgraph.generated.models.planner_plan_container import PlannerPlanContainer
from msgraph.generated.models.planner_task import PlannerTask as GraphTask
from msgraph.graph_request_adapter import options as sdk_default_options
from msgraph_core import GraphClientFactory

from shared.observability import record_api_call
from shared.planner.auth import AuthInput, auth_provider_for, credential_from_settings
from shared.planner.convert import (
    ORDER_HINT_FIRST,
    details_body,
    details_from_json,
    task_body,
    task_changes,
    task_from_json,
)
from shared.planner.errors import (
    PlannerError,
    PlannerLimitError,
    PlannerNotFound,
    PlannerStale,
    PlannerThrottled,
    PlannerUncertainWrite,
)
from shared.planner.loop import run_sync
from shared.planner.models import (
    ChecklistItem,
    PlannerTask,
    Reference,
    TaskDetails,
    TaskSpec,
    check_checklist_items,
    check_counts,
    check_reference_urls,
    validate_spec,
)
from shared.planner.stats import PlannerStats
from shared.settings import Settings

T = TypeVar("T")
V = TypeVar("V")
# A details change given as a value, or as a function of the current details (see update_details).
DetailsChange = Union[V, Callable[[TaskDetails], V]]

RETRYABLE_STATUSES = frozenset({429, 503, 504})
MAX_RETRY_AFTER_SECONDS = 120.0  # longer waits go back to the caller as PlannerThrottled.retry_after
BACKOFF_BASE_SECONDS = 0.25  # when Graph sends no Retry-After: 0.25, 0.5, 1, 2, 4 ...
CONFLICT_RETRIES = 5  # re-read/re-apply rounds on 412/409
DETAILS_LAG_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)  # new details may 404 for a moment after the POST
_NO_SDK_RETRY = RetryHandlerOption(delay=0, max_retries=0, should_retry=False)
_ERROR_MAPPING: dict[str, Any] = {"XXX": ODataError}  # as the generated builders map every error status

# Process-wide caches (object ids and bucket ids do not change), keyed by base URL so environments and
# test servers never share entries.
_cache_lock = threading.Lock()
_lookup_lock = threading.Lock()  # held while an entry missing from a cache is looked up (or a bucket made)
_user_ids: dict[tuple[str, str], str] = {}
_bucket_ids: dict[tuple[str, str, str], str] = {}
K = TypeVar("K")


def _cached(cache: dict[K, str], key: K, look_up: Callable[[], str]) -> str:
    """The cached value, or `look_up()` stored. Concurrent misses (a pass's actions run several at once,
    shared/reconcile/parallel.py) look up once: the others wait and then read the cache, so no owner is
    read twice and no bucket is made twice."""
    with _cache_lock:
        if key in cache:
            return cache[key]
    with _lookup_lock:
        with _cache_lock:
            if key in cache:
                return cache[key]
        value = look_up()
        with _cache_lock:
            cache[key] = value
    return value


class CallKind(Enum):
    """What a failed call may have done, which decides retries and the error raised."""

    READ = "read"
    IDEMPOTENT_WRITE = "idempotent_write"  # PATCH/DELETE with If-Match: safe to repeat
    CREATE = "create"  # POST: never repeated blindly


def _config(*, if_match: Optional[str] = None, representation: bool = False,
            no_retry: bool = False) -> RequestConfiguration[Any]:
    config: RequestConfiguration[Any] = RequestConfiguration()
    if if_match:
        config.headers.add("If-Match", if_match)
    if representation:
        config.headers.add("Prefer", "return=representation")
    if no_retry:
        config.options = [_NO_SDK_RETRY]
    return config


def _retry_after_seconds(headers: Any) -> Optional[float]:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _error_from_api(exc: APIError, kind: CallKind) -> PlannerError:
    status = exc.response_status_code or 0
    code, message = "HttpError", f"HTTP {status}"
    if isinstance(exc, ODataError) and exc.error is not None:
        code = exc.error.code or code
        message = exc.error.message or message
    # Only a 429 proves Graph did not act. A 503 may come from a gateway after the service created the
    # task (the reason Kiota's POST retry can duplicate tasks, API_FACTS.md): for a create it is uncertain.
    if status == 429 or (status == 503 and kind is not CallKind.CREATE):
        return PlannerThrottled(status, code, message, _retry_after_seconds(exc.response_headers))
    if status == 404:
        return PlannerNotFound(status, code, message)
    if status == 403 and code.startswith("Maximum"):
        return PlannerLimitError(status, code, message)
    if status >= 500 and kind is not CallKind.READ:
        return PlannerUncertainWrite(status, code, message)
    return PlannerError(status, code, message)


def _error_from_transport(exc: httpx.TransportError, kind: CallKind) -> PlannerError:
    # Connect failures happen before the request leaves: Graph cannot have acted on it.
    sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    code = "Timeout" if isinstance(exc, httpx.TimeoutException) else "ConnectionLost"
    message = f"{type(exc).__name__}: no answer from Graph"
    if sent and kind is not CallKind.READ:
        return PlannerUncertainWrite(None, code, message + "; the write may or may not have happened")
    return PlannerError(None, code, message)


class PlannerClient:
    """Synchronous Planner operations for the (synchronous) app. One instance per process is enough;
    it is thread-safe because every call runs on the process's single Graph event loop."""

    def __init__(self, *, base_url: str, auth: AuthInput, timeout: float = 30.0,
                 max_throttle_retries: int = 5) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_throttle_retries = max_throttle_retries
        self.stats = PlannerStats()
        self._auth_provider = auth_provider_for(auth, self.base_url)
        self._owned_credential: Any = None
        self._closed = False
        self._http, self._adapter, self._graph = run_sync(self._build())

    @classmethod
    def from_settings(cls, settings: Settings) -> "PlannerClient":
        """A client as GRAPH_AUTH_MODE says: managed identity, client secret, or the sandbox token."""
        credential = credential_from_settings(settings)
        client = cls(base_url=settings.GRAPH_BASE_URL, auth=credential, timeout=settings.GRAPH_TIMEOUT_SECONDS)
        if not isinstance(credential, str):
            client._owned_credential = credential
        return client

    async def _build(self) -> tuple[httpx.AsyncClient, GraphRequestAdapter, GraphServiceClient]:
        # Built on the Graph loop, where the pooled connections will live.
        http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout))
        options = {**sdk_default_options, RetryHandlerOption.get_key(): _NO_SDK_RETRY}
        http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
        adapter = GraphRequestAdapter(self._auth_provider, client=http)
        adapter.base_url = self.base_url  # before GraphServiceClient, which otherwise sets graph.microsoft.com
        return http, adapter, GraphServiceClient(request_adapter=adapter)

    def close(self) -> None:
        """Release connections (and the credential this client created). Idempotent."""
        if not self._closed:
            self._closed = True
            run_sync(self._aclose())

    async def _aclose(self) -> None:
        await self._http.aclose()
        if self._owned_credential is not None:
            await self._owned_credential.close()

    def __enter__(self) -> "PlannerClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("PlannerClient is closed")
        return run_sync(coro)

    # --- the one place that talks to the SDK: retries, counting, error translation ----------------------
    async def _call(self, endpoint: str, send: Callable[[], Awaitable[T]], kind: CallKind) -> T:
        """Run `send` (one HTTP attempt each time), counting every attempt and 429. Reads and If-Match
        writes are repeated on 429/503/504 (after Retry-After, else a doubling backoff) and on lost
        connections, up to max_throttle_retries; creates never are. Failures become typed errors."""
        attempt = 0
        while True:
            self.stats.record_call(endpoint)
            try:
                result = await send()
                record_api_call("graph", 200)
                return result
            except APIError as exc:
                status = exc.response_status_code or 0
                record_api_call("graph", status)
                if status == 429:
                    self.stats.record_throttle(endpoint)
                error = _error_from_api(exc, kind)
                retryable = kind is not CallKind.CREATE and status in RETRYABLE_STATUSES
                delay = _retry_after_seconds(exc.response_headers)
                if delay is None:
                    delay = BACKOFF_BASE_SECONDS * 2 ** attempt
                if not retryable or attempt >= self.max_throttle_retries or delay > MAX_RETRY_AFTER_SECONDS:
                    raise error from exc
            except httpx.TransportError as exc:
                if kind is CallKind.CREATE or attempt >= self.max_throttle_retries:
                    raise _error_from_transport(exc, kind) from exc
                delay = BACKOFF_BASE_SECONDS * 2 ** attempt
            attempt += 1
            await asyncio.sleep(delay)

    async def _request(self, endpoint: str, build: Callable[[], RequestInformation],
                       kind: CallKind) -> Optional[dict[str, Any]]:
        """Send a request built by the SDK's request builders through the SDK's pipeline (auth, middleware,
        error mapping) and read the JSON answer ourselves (see convert.py for why). None for 204."""
        content = await self._call(
            endpoint, lambda: self._adapter.send_primitive_async(build(), "bytes", _ERROR_MAPPING), kind)
        return json.loads(content) if content else None

    def _task_builder(self, task_id: str) -> Any:
        return self._graph.planner.tasks.by_planner_task_id(task_id)

    # --- plans ------------------------------------------------------------------------------------
    def get_plan(self, plan_id: str) -> dict[str, Any]:
        """The plan's JSON (id, title, container). A cheap authenticated read: /api/health uses it to
        tell whether Graph answers and our identity may read the plan."""
        found = self._run(self._request(
            "get_plan", lambda: self._graph.planner.plans.by_planner_plan_id(plan_id).to_get_request_information(),
            CallKind.READ))
        if not found:
            raise PlannerNotFound(404, "NotFound", f"plan {plan_id} not found")
        return found

    def ensure_group_plan(self, group_id: str, title: str) -> str:
        """The id of the plan called `title` in a Microsoft 365 group, created when missing (launch waves).

        Same discipline as ensure_bucket: list the group's plans (`GET /groups/{id}/planner/plans`), create
        with one unretried `POST /planner/plans` (`container.url` = the group), list again. When two
        instances raced, every caller picks the same plan: the smallest id (the other stays empty)."""
        found = self._run(self._find_group_plan(group_id, title))
        if found:
            return found
        body = PlannerPlan(title=title, container=PlannerPlanContainer(
            url=f"https://graph.microsoft.com/v1.0/groups/{group_id}"))
        with contextlib.suppress(PlannerUncertainWrite):  # the listing below shows whether it exists
            self._run(self._request("create_plan", lambda: self._graph.planner.plans.to_post_request_information(
                body, _config(no_retry=True)), CallKind.CREATE))
        found = self._run(self._find_group_plan(group_id, title))
        if not found:
            raise PlannerError(None, "PlanNotCreated", f"plan {title!r} could not be created in group {group_id}")
        return found

    async def _find_group_plan(self, group_id: str, title: str) -> Optional[str]:
        return await self._smallest_id_named("list_group_plans", self._graph.groups.by_group_id(group_id).planner.plans,
                                             "title", title)

    # --- tasks ------------------------------------------------------------------------------------
    def create_task(self, spec: TaskSpec) -> tuple[PlannerTask, TaskDetails]:
        """Create the task, then write its details. Validates every limit first (PlannerLimitError, nothing
        sent). The POST is sent exactly once: PlannerThrottled means Graph did not act; PlannerUncertainWrite
        means it may have (task_id set when the task exists but its details failed)."""
        try:
            return self._run(self._create_task(spec))
        except PlannerError as exc:
            if exc.status in (400, 404) and spec.bucket_id:
                # Perhaps a person deleted the bucket (the sandbox answers 400; Graph's answer is UNVERIFIED):
                # forget it, so the next ensure_bucket looks again instead of failing until a restart.
                with _cache_lock:
                    for key in [k for k, v in _bucket_ids.items() if v == spec.bucket_id]:
                        del _bucket_ids[key]
            raise

    async def _create_task(self, spec: TaskSpec) -> tuple[PlannerTask, TaskDetails]:
        validate_spec(spec)
        created = await self._request("create_task", lambda: self._graph.planner.tasks.to_post_request_information(
            task_body(spec), _config(no_retry=True)), CallKind.CREATE)
        if not created or not created.get("id"):
            raise PlannerUncertainWrite(201, "EmptyResponse", "Graph answered the create without a task")
        task = task_from_json(created)
        try:
            details = await self._retrying_details_lag(lambda: self._update_details(
                task.id, description=spec.description or None,
                checklist={item.key: item for item in spec.checklist} if spec.checklist else None,
                references={ref.url: ref for ref in spec.references} if spec.references else None))
        except PlannerError as exc:
            raise PlannerUncertainWrite(exc.status, exc.code, f"task {task.id} was created but writing its "
                                        f"details failed: {exc.message}", task_id=task.id, task=task) from exc
        # Writing details may change the task's etag (it does in the sandbox; UNVERIFIED for Graph). The
        # POST's etag is returned as is: re-reading would cost a call per created task, and update_task
        # re-reads and re-applies on 412 anyway.
        return task, details

    async def _retrying_details_lag(self, operation: Callable[[], Awaitable[T]]) -> T:
        delays = iter(DETAILS_LAG_DELAYS)
        while True:
            try:
                return await operation()
            except PlannerNotFound:
                delay = next(delays, None)
                if delay is None:
                    raise
            await asyncio.sleep(delay)

    def get_task(self, task_id: str) -> Optional[PlannerTask]:
        """The task, or None when it does not exist (any more)."""
        try:
            return self._run(self._get_task(task_id))
        except PlannerNotFound:
            return None

    async def _get_task(self, task_id: str) -> PlannerTask:
        found = await self._request("get_task", lambda: self._task_builder(task_id).to_get_request_information(),
                                    CallKind.READ)
        if not found:
            raise PlannerNotFound(404, "NotFound", f"task {task_id} not found")
        return task_from_json(found)

    def update_task(self, task_id: str, changes: Mapping[str, Any], etag: Optional[str] = None) -> PlannerTask:
        """PATCH `changes` (Graph JSON names, e.g. {"percentComplete": 100}; datetimes allowed) with
        If-Match. On 412/409 re-read and re-apply our changes only; returns the updated task."""
        return self._run(self._update_task(task_id, task_changes(changes), etag))

    async def _update_task(self, task_id: str, payload: dict[str, Any], etag: Optional[str]) -> PlannerTask:
        current_etag = etag or (await self._get_task(task_id)).etag
        conflicts = 0
        while True:
            try:
                updated = await self._request("update_task", partial(
                    self._task_builder(task_id).to_patch_request_information, GraphTask(additional_data=dict(payload)),
                    _config(if_match=current_etag, representation=True)), CallKind.IDEMPOTENT_WRITE)
                return task_from_json(updated) if updated else await self._get_task(task_id)
            except PlannerError as exc:
                conflicts += 1
                if exc.status not in (409, 412) or conflicts > CONFLICT_RETRIES:
                    raise
            current_etag = (await self._get_task(task_id)).etag

    def close_task(self, task_id: str, etag: Optional[str] = None) -> PlannerTask:
        """Mark complete (percentComplete 100; Planner then sets completedDateTime and completedBy).
        With the etag from a listing this is one PATCH; a stale one costs a re-read (see update_task)."""
        return self.update_task(task_id, {"percentComplete": 100}, etag)

    def reopen_task(self, task_id: str, etag: Optional[str] = None) -> PlannerTask:
        return self.update_task(task_id, {"percentComplete": 0}, etag)

    def delete_task(self, task_id: str, etag: Optional[str] = None) -> None:
        """Delete with If-Match. A task that is already gone counts as deleted."""
        try:
            self._run(self._delete_task(task_id, etag))
        except PlannerNotFound:
            return

    async def _delete_task(self, task_id: str, etag: Optional[str]) -> None:
        current_etag = etag or (await self._get_task(task_id)).etag
        conflicts = 0
        while True:
            try:
                await self._request("delete_task", partial(self._task_builder(task_id).to_delete_request_information,
                                                           _config(if_match=current_etag)), CallKind.IDEMPOTENT_WRITE)
                return
            except PlannerError as exc:
                conflicts += 1
                if exc.status not in (409, 412) or conflicts > CONFLICT_RETRIES:
                    raise
            current_etag = (await self._get_task(task_id)).etag

    def list_plan_tasks(self, plan_id: str) -> Iterator[PlannerTask]:
        """Every task of the plan, fetched page by page (about 400 per page) as the iterator advances."""
        next_link: Optional[str] = None
        while True:
            page, next_link = self._run(self._plan_tasks_page(plan_id, next_link))
            yield from page
            if not next_link:
                return

    def list_plans_tasks(self, plan_ids: Iterable[str]) -> tuple[dict[str, PlannerTask], dict[str, PlannerError]]:
        """Every task of these plans by id, and the plans that could not be listed with their error (a typo
        in the rules, lost access): one bad plan does not stop the others."""
        tasks: dict[str, PlannerTask] = {}
        failed: dict[str, PlannerError] = {}
        for plan_id in sorted(plan_ids):
            try:
                tasks.update((task.id, task) for task in self.list_plan_tasks(plan_id))
            except PlannerError as exc:
                failed[plan_id] = exc
        return tasks, failed

    async def _plan_tasks_page(self, plan_id: str, next_link: Optional[str]) -> tuple[list[PlannerTask], Optional[str]]:
        builder = self._graph.planner.plans.by_planner_plan_id(plan_id).tasks
        if next_link:
            builder = builder.with_url(next_link)
        page = await self._request("list_plan_tasks", builder.to_get_request_information, CallKind.READ) or {}
        return [task_from_json(t) for t in page.get("value") or []], page.get("@odata.nextLink")

    # --- beta delta query (PLANNER_DELTA=beta; shared/planner_delta.py says why and how) ----------------
    @property
    def beta_url(self) -> str:
        """Graph's beta root on the same host as GRAPH_BASE_URL (which names v1.0)."""
        root, _, version = self.base_url.rpartition("/")
        if version != "v1.0":
            raise PlannerError(None, "NotV1", f"GRAPH_BASE_URL must end in /v1.0 to derive /beta, not /{version}")
        return f"{root}/beta"

    def delta_round(self, url: str) -> tuple[list[dict[str, Any]], str]:
        """Follow one delta round from `url` through its nextLinks: the raw items and the round's deltaLink.
        A page with neither link is an error (Graph always ends a round with a deltaLink)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._run(self._request("planner_delta", partial(_get_request, url), CallKind.READ)) or {}
            items.extend(page.get("value") or [])
            if page.get("@odata.nextLink"):
                url = page["@odata.nextLink"]
            elif page.get("@odata.deltaLink"):
                return items, page["@odata.deltaLink"]
            else:
                raise PlannerError(200, "NoDeltaLink", "a delta page had neither @odata.nextLink nor @odata.deltaLink")

    # --- details --------------------------------------------------------------------------------------
    def get_details(self, task_id: str) -> TaskDetails:
        return self._run(self._get_details(task_id))

    async def _get_details(self, task_id: str) -> TaskDetails:
        found = await self._request("get_details", self._task_builder(task_id).details.to_get_request_information,
                                    CallKind.READ)
        if not found:
            raise PlannerNotFound(404, "NotFound", f"details of task {task_id} not found")
        return details_from_json(task_id, found)

    def update_details(self, task_id: str, *, description: DetailsChange[Optional[str]] = None,
                       checklist: DetailsChange[Optional[Mapping[str, Optional[ChecklistItem]]]] = None,
                       references: Optional[Mapping[str, Optional[Reference]]] = None,
                       known: Optional[TaskDetails] = None) -> TaskDetails:
        """Change the description and/or add, change (by key / URL) or remove (None) checklist items and
        references. The limits are checked against the merged result before sending.

        `description` and `checklist` may be functions of the current details: they are then computed
        from the version being replaced, on every attempt, so appending a note after a 412 keeps what a
        person wrote meanwhile. A plain value is re-sent as it is (text we own outright).

        `known`: the details as the caller last wrote them, with the etag Graph gave back. The PATCH is
        then sent at once with that etag (one call instead of GET + PATCH); if someone wrote the details
        since, Graph answers 412 and PlannerStale is raised with nothing changed, so the caller can check
        its own records before calling again without `known` (which re-reads and keeps their edit)."""
        return self._run(self._update_details(task_id, description=description, checklist=checklist,
                                              references=references, known=known))

    async def _update_details(self, task_id: str, *, description: DetailsChange[Optional[str]],
                              checklist: DetailsChange[Optional[Mapping[str, Optional[ChecklistItem]]]],
                              references: Optional[Mapping[str, Optional[Reference]]],
                              known: Optional[TaskDetails] = None) -> TaskDetails:
        conflicts = 0
        while True:
            current = known or await self._get_details(task_id)
            new_description = description(current) if callable(description) else description
            new_checklist = checklist(current) if callable(checklist) else checklist
            _check_keyed(new_checklist, references)
            if new_description is None and not new_checklist and references is None:
                return current
            check_counts(checklist=_merged_count(current.checklist, new_checklist),
                         references=_merged_count(current.references, references))
            try:
                updated = await self._request("update_details", partial(
                    self._task_builder(task_id).details.to_patch_request_information,
                    details_body(new_description, new_checklist or None, references),
                    _config(if_match=current.etag, representation=True)), CallKind.IDEMPOTENT_WRITE)
                return details_from_json(task_id, updated) if updated else await self._get_details(task_id)
            except PlannerError as exc:
                if known is not None and exc.status in (409, 412):
                    raise PlannerStale(exc.status, exc.code, f"details of task {task_id} changed since our "
                                       f"last write: {exc.message}") from exc
                conflicts += 1
                if exc.status not in (409, 412) or conflicts > CONFLICT_RETRIES:
                    raise

    # --- users and buckets ----------------------------------------------------------------------------
    def resolve_user(self, upn: str) -> str:
        """The Entra object id for a user principal name (assignments are keyed by object id)."""
        def look_up() -> str:
            user = self._run(self._request(
                "get_user", self._graph.users.by_user_id(upn.strip()).to_get_request_information, CallKind.READ))
            if not user or not user.get("id"):
                raise PlannerNotFound(404, "Request_ResourceNotFound", f"user {upn} not found")
            return str(user["id"])

        return _cached(_user_ids, (self.base_url, upn.strip().lower()), look_up)

    def ensure_bucket(self, plan_id: str, name: str) -> str:
        """The id of the plan's bucket called `name`, created when missing. When several exist (two
        instances raced to create it) every caller picks the same one: the smallest id."""
        return _cached(_bucket_ids, (self.base_url, plan_id, name),
                       lambda: self._run(self._ensure_bucket(plan_id, name)))

    async def _ensure_bucket(self, plan_id: str, name: str) -> str:
        found = await self._find_bucket(plan_id, name)
        if found:
            return found
        body = PlannerBucket(name=name, plan_id=plan_id, order_hint=ORDER_HINT_FIRST)
        with contextlib.suppress(PlannerUncertainWrite):  # the listing below shows whether it exists
            await self._request("create_bucket", lambda: self._graph.planner.buckets.to_post_request_information(
                body, _config(no_retry=True)), CallKind.CREATE)
        found = await self._find_bucket(plan_id, name)
        if not found:
            raise PlannerError(None, "BucketNotCreated", f"bucket {name!r} could not be created in plan {plan_id}")
        return found

    async def _find_bucket(self, plan_id: str, name: str) -> Optional[str]:
        return await self._smallest_id_named("list_buckets", self._graph.planner.plans.by_planner_plan_id(plan_id).buckets,
                                             "name", name)

    async def _smallest_id_named(self, endpoint: str, builder: Any, field: str, value: str) -> Optional[str]:
        """Page through a collection; the smallest id of the items whose `field` is `value` (None if none)."""
        ids: list[str] = []
        while True:
            page = await self._request(endpoint, builder.to_get_request_information, CallKind.READ) or {}
            ids += [item["id"] for item in page.get("value") or [] if item.get(field) == value and item.get("id")]
            if not page.get("@odata.nextLink"):
                return min(ids) if ids else None
            builder = builder.with_url(page["@odata.nextLink"])


def _get_request(url: str) -> RequestInformation:
    """A GET of a full URL (a nextLink or deltaLink, used as Graph gave it) through the SDK's pipeline."""
    info = RequestInformation(Method.GET)
    info.url = url
    info.headers.try_add("Accept", "application/json")
    return info


def _check_keyed(checklist: Optional[Mapping[str, Optional[ChecklistItem]]],
                 references: Optional[Mapping[str, Optional[Reference]]]) -> None:
    """Keys must agree with the items they map to, and items must be well formed (nothing sent if not)."""
    items = [item for item in (checklist or {}).values() if item is not None]
    check_checklist_items(items)
    if any(item.key != key for key, item in (checklist or {}).items() if item is not None):
        raise PlannerLimitError(None, "InvalidChecklistItem", "each checklist key must equal its item's key")
    check_reference_urls(list((references or {}).keys()))
    if any(ref.url != url for url, ref in (references or {}).items() if ref is not None):
        raise PlannerLimitError(None, "InvalidReference", "each reference key must equal its reference's url")


def _merged_count(current: Mapping[str, Any], changes: Optional[Mapping[str, Any]]) -> int:
    if not changes:
        return len(current)
    keys = set(current)
    for key, value in changes.items():
        if value is None:
            keys.discard(key)
        else:
            keys.add(key)
    return len(keys)
