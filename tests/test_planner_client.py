"""PlannerClient against the Graph stand-in over real HTTP: the happy path, and surviving what Graph does
(429 storms, 412 races, details lag, dropped connections) without ever sending a create twice."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Iterator

import httpx
import pytest

import shared.planner.client as client_module
from sandbox.graph import BUCKET_IDS, DEV_TOKEN, PRODUCT_DATA_PLAN_ID, USER_IDS
from shared.planner import (
    ChecklistItem,
    PlannerClient,
    PlannerError,
    PlannerLimitError,
    PlannerNotFound,
    PlannerThrottled,
    PlannerUncertainWrite,
    Reference,
    TaskSpec,
)
from shared.planner.auth import DEVELOPMENT_TOKEN
from shared.planner.loop import background_loop, run_sync
from shared.settings import load_settings

# msgraph-sdk and kiota warn about their own deprecated classes when their modules load.
pytestmark = [pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning")]

PLAN = PRODUCT_DATA_PLAN_ID
STEWARD = "data.steward@contoso.example"


@pytest.fixture
def client(graph_sandbox: Any) -> Iterator[PlannerClient]:
    planner = PlannerClient(base_url=f"{graph_sandbox.url}/v1.0", auth=DEV_TOKEN, timeout=5)
    try:
        yield planner
    finally:
        planner.close()


def _spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = dict(
        plan_id=PLAN, bucket_id=BUCKET_IDS[PLAN]["Missing data"], title="Add description: SKU-1001",
        assignee_ids=(USER_IDS[STEWARD],), priority=3, due=datetime(2031, 1, 15, tzinfo=timezone.utc),
        description="Product SKU-1001 lacks an English description.",
        checklist=(ChecklistItem(str(uuid.uuid4()), "Write the description"),),
        references=(Reference("https://app.plytix.com/products/p1001", "SKU-1001 in Plytix"),),
        categories=("category2",))
    fields.update(overrides)
    return TaskSpec(**fields)


def _calls(graph_sandbox: Any, endpoint: str) -> int:
    return graph_sandbox.app.faults.calls[endpoint]


def _fault(graph_sandbox: Any, endpoint: str, **fault: Any) -> None:
    graph_sandbox.app.faults.add(endpoint, fault)


# --- the happy path ------------------------------------------------------------------------------
def test_create_task_writes_task_and_details_in_three_calls(client: PlannerClient, graph_sandbox: Any) -> None:
    spec = _spec()
    task, details = client.create_task(spec)
    assert (task.plan_id, task.bucket_id, task.title) == (PLAN, spec.bucket_id, spec.title)
    assert task.assignee_ids == (USER_IDS[STEWARD],) and task.percent_complete == 0 and task.completed is None
    assert details.description == spec.description
    assert details.checklist == {item.key: item for item in spec.checklist}
    assert details.references == {"https://app.plytix.com/products/p1001": spec.references[0]}
    [stored] = graph_sandbox.sandbox.plan_tasks(PLAN)
    assert stored["appliedCategories"] == {"category2": True} and stored["priority"] == 3
    assert stored["dueDateTime"] == "2031-01-15T00:00:00Z"
    assert list(stored["details"]["references"]) == ["https%3A//app%2Eplytix%2Ecom/products/p1001"]
    assert details.etag == stored["details"]["@odata.etag"]
    # POST task, GET details (its etag), PATCH details: the task is not re-read (see create_task).
    assert sum(graph_sandbox.sandbox.app.faults.calls[e] for e in ("graph.create_task", "graph.get_details",
                                                                 "graph.update_details", "graph.get_task")) == 3


def test_update_close_reopen_and_delete(client: PlannerClient, graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    new_due = datetime(2032, 1, 1, tzinfo=timezone.utc)
    renamed = client.update_task(task.id, {"title": "Renamed", "dueDateTime": new_due}, etag=task.etag)
    assert renamed.title == "Renamed" and renamed.etag != task.etag
    # Writing the details made the create's etag stale: one 412, re-read, re-applied.
    assert _calls(graph_sandbox, "graph.update_task") == 2
    closed = client.close_task(task.id)
    assert closed.percent_complete == 100 and closed.completed is not None and closed.completed_by
    reopened = client.reopen_task(task.id)
    assert reopened.percent_complete == 0 and reopened.completed is None
    client.delete_task(task.id)
    assert client.get_task(task.id) is None
    client.delete_task(task.id)  # already gone: nothing to do, no error


def test_update_details_adds_changes_and_removes_items(client: PlannerClient) -> None:
    task, details = client.create_task(_spec())
    [old_key] = details.checklist
    new = ChecklistItem(str(uuid.uuid4()), "Add alt text")
    updated = client.update_details(
        task.id, description="Now with alt text",
        checklist={old_key: None, new.key: new},
        references={"https://app.plytix.com/products/p1001": None,
                    "https://contoso.example/style-guide#alt": Reference("https://contoso.example/style-guide#alt",
                                                                        "Style guide")})
    assert updated.description == "Now with alt text"
    assert updated.checklist == {new.key: new}
    assert list(updated.references) == ["https://contoso.example/style-guide#alt"]
    assert client.get_details(task.id) == updated


def test_list_plan_tasks_follows_next_links(client: PlannerClient, graph_sandbox: Any) -> None:
    graph_sandbox.sandbox.seed_tasks(PLAN, 900)
    tasks = list(client.list_plan_tasks(PLAN))
    assert len({t.id for t in tasks}) == 900
    assert client.stats.calls["list_plan_tasks"] == 3


def test_resolve_user_is_cached_and_unknown_users_raise(client: PlannerClient, graph_sandbox: Any) -> None:
    assert client.resolve_user(STEWARD) == USER_IDS[STEWARD]
    assert client.resolve_user(STEWARD.upper()) == USER_IDS[STEWARD]
    assert _calls(graph_sandbox, "graph.get_user") == 1
    with pytest.raises(PlannerNotFound) as caught:
        client.resolve_user("nobody@contoso.example")
    assert caught.value.code == "Request_ResourceNotFound"


def test_ensure_bucket_finds_creates_and_converges_on_one(client: PlannerClient, graph_sandbox: Any) -> None:
    assert client.ensure_bucket(PLAN, "Launch") == BUCKET_IDS[PLAN]["Launch"]
    created = client.ensure_bucket(PLAN, "Amazon listing")
    assert client.ensure_bucket(PLAN, "Amazon listing") == created
    assert _calls(graph_sandbox, "graph.create_bucket") == 1
    # Two instances raced and both created "Retail": everyone picks the same (smallest) id.
    ids = [graph_sandbox.sandbox.state.create_bucket({"name": "Retail", "planId": PLAN})["id"] for _ in range(2)]
    assert client.ensure_bucket(PLAN, "Retail") == min(ids)


# --- limits: refused before any call ------------------------------------------------------------
@pytest.mark.parametrize("overrides, code", [
    ({"checklist": tuple(ChecklistItem(str(uuid.uuid4()), f"Item {n}") for n in range(21))},
     "MaximumChecklistItemsOnTask"),
    ({"references": tuple(Reference(f"https://contoso.example/{n}", f"R{n}") for n in range(11))},
     "MaximumReferencesOnTask"),
    ({"assignee_ids": tuple(str(uuid.uuid4()) for _ in range(21))}, "MaximumAssigneesInTasks"),
    ({"title": "   "}, "InvalidTitle"),
    ({"assignee_ids": (STEWARD,)}, "InvalidAssignee"),
    ({"due": datetime(2031, 1, 1)}, "InvalidDate"),
])
def test_create_task_validates_before_any_call(graph_sandbox: Any, overrides: dict[str, Any], code: str) -> None:
    with PlannerClient(base_url=f"{graph_sandbox.url}/v1.0", auth=DEV_TOKEN) as planner, \
            pytest.raises(PlannerLimitError) as caught:
        planner.create_task(_spec(**overrides))
    assert caught.value.code == code and caught.value.status is None
    assert sum(graph_sandbox.app.faults.calls.values()) == 0


def test_a_full_plan_is_a_limit_error_from_graph(client: PlannerClient, graph_sandbox: Any) -> None:
    graph_sandbox.sandbox.seed_tasks(PLAN, 2400)
    with pytest.raises(PlannerLimitError) as caught:
        client.create_task(_spec())
    assert (caught.value.status, caught.value.code) == (403, "MaximumActiveTasksInProject")
    assert caught.value.may_have_acted is False


def test_update_details_checks_the_merged_checklist_limit(client: PlannerClient, graph_sandbox: Any) -> None:
    items = tuple(ChecklistItem(str(uuid.uuid4()), f"Item {n}") for n in range(15))
    task, _ = client.create_task(_spec(checklist=items))
    more = {key: ChecklistItem(key, "more") for key in (str(uuid.uuid4()) for _ in range(6))}
    patches = _calls(graph_sandbox, "graph.update_details")
    with pytest.raises(PlannerLimitError) as caught:
        client.update_details(task.id, checklist=more)
    assert caught.value.code == "MaximumChecklistItemsOnTask"
    assert _calls(graph_sandbox, "graph.update_details") == patches
    # Removing one while adding six fits exactly 20.
    fits = {**dict(list(more.items())[:5]), items[0].key: None}
    assert len(client.update_details(task.id, checklist=fits).checklist) == 19


# --- the create POST is never sent twice ---------------------------------------------------------
def test_throttled_create_is_not_resent_and_says_graph_did_not_act(client: PlannerClient,
                                                                   graph_sandbox: Any) -> None:
    _fault(graph_sandbox, "graph.create_task", kind="status", status=429, retry_after=0)
    with pytest.raises(PlannerThrottled) as caught:
        client.create_task(_spec())
    assert caught.value.status == 429 and caught.value.may_have_acted is False
    assert caught.value.retry_after == 0
    assert _calls(graph_sandbox, "graph.create_task") == 1
    assert graph_sandbox.sandbox.plan_tasks(PLAN) == []


def test_a_503_on_create_is_uncertain_because_graph_may_have_acted(client: PlannerClient,
                                                                  graph_sandbox: Any) -> None:
    _fault(graph_sandbox, "graph.create_task", kind="status", status=503, retry_after=0, act=True)
    with pytest.raises(PlannerUncertainWrite) as caught:
        client.create_task(_spec())
    assert caught.value.status == 503 and caught.value.may_have_acted is True
    assert _calls(graph_sandbox, "graph.create_task") == 1
    assert len(graph_sandbox.sandbox.plan_tasks(PLAN)) == 1  # it did: adoption will find it


def test_dropped_create_is_not_resent_and_is_uncertain(client: PlannerClient, graph_sandbox: Any) -> None:
    _fault(graph_sandbox, "graph.create_task", kind="drop")
    with pytest.raises(PlannerUncertainWrite) as caught:
        client.create_task(_spec())
    assert caught.value.may_have_acted is True and caught.value.task_id is None
    assert _calls(graph_sandbox, "graph.create_task") == 1
    assert len(graph_sandbox.sandbox.plan_tasks(PLAN)) == 1  # Graph did act: adoption will find it


def test_timed_out_create_is_not_resent_and_is_uncertain(graph_sandbox: Any) -> None:
    _fault(graph_sandbox, "graph.create_task", kind="hang", seconds=1.5)
    with PlannerClient(base_url=f"{graph_sandbox.url}/v1.0", auth=DEV_TOKEN, timeout=0.5) as planner, \
            pytest.raises(PlannerUncertainWrite) as caught:
        planner.create_task(_spec())
    assert caught.value.code == "Timeout"
    assert _calls(graph_sandbox, "graph.create_task") == 1


def test_details_lag_is_waited_out(client: PlannerClient, graph_sandbox: Any) -> None:
    graph_sandbox.sandbox.configure(details_404_calls=2)
    task, details = client.create_task(_spec())
    assert details.description and _calls(graph_sandbox, "graph.create_task") == 1
    assert _calls(graph_sandbox, "graph.get_details") == 3  # 404, 404, then the real details


def test_details_that_never_appear_report_the_created_task(client: PlannerClient, graph_sandbox: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "DETAILS_LAG_DELAYS", (0.0, 0.0))
    graph_sandbox.sandbox.configure(details_404_calls=10)
    with pytest.raises(PlannerUncertainWrite) as caught:
        client.create_task(_spec())
    [stored] = graph_sandbox.sandbox.plan_tasks(PLAN)
    assert caught.value.task_id == stored["id"]
    assert _calls(graph_sandbox, "graph.create_task") == 1


# --- idempotent calls survive throttling and lost answers --------------------------------------------
def test_429_storm_is_ridden_out_and_counted(client: PlannerClient, graph_sandbox: Any) -> None:
    created, _ = client.create_task(_spec())
    task = client.get_task(created.id)
    _fault(graph_sandbox, "graph.get_task", kind="status", status=429, retry_after=0, count=3)
    assert client.get_task(task.id) == task
    assert client.stats.throttled["get_task"] == 3 and client.stats.total_throttled == 3
    assert _calls(graph_sandbox, "graph.get_task") == client.stats.calls["get_task"]
    assert client.stats.total_calls == sum(graph_sandbox.app.faults.calls.values())


def test_retry_after_is_honoured(client: PlannerClient, graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    _fault(graph_sandbox, "graph.update_task", kind="status", status=429, retry_after=1)
    started = time.monotonic()
    assert client.close_task(task.id).percent_complete == 100
    assert time.monotonic() - started >= 0.95


def test_throttling_beyond_the_retry_budget_raises(graph_sandbox: Any) -> None:
    _fault(graph_sandbox, "graph.get_user", kind="status", status=429, retry_after=0, count=5)
    with PlannerClient(base_url=f"{graph_sandbox.url}/v1.0", auth=DEV_TOKEN, max_throttle_retries=2) as planner:
        with pytest.raises(PlannerThrottled):
            planner.resolve_user(STEWARD)
        assert planner.stats.snapshot()["throttled"] == {"get_user": 3}


def test_412_race_reapplies_our_change_and_keeps_theirs(client: PlannerClient, graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    seen = client.get_task(task.id)
    assert seen is not None
    # A person renames the task between our read and our write.
    person = httpx.patch(f"{graph_sandbox.url}/v1.0/planner/tasks/{task.id}", json={"title": "Renamed by Dana"},
                         headers={"Authorization": f"Bearer {DEV_TOKEN}", "If-Match": seen.etag})
    assert person.status_code == 204
    updated = client.update_task(task.id, {"percentComplete": 50}, etag=seen.etag)
    assert (updated.percent_complete, updated.title) == (50, "Renamed by Dana")
    assert _calls(graph_sandbox, "graph.update_task") == 3  # person, our stale PATCH (412), our re-apply


def test_409_conflict_is_reread_and_reapplied(client: PlannerClient, graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    _fault(graph_sandbox, "graph.update_details", kind="status", status=409)
    updated = client.update_details(task.id, description="after a conflict")
    assert updated.description == "after a conflict"
    assert _calls(graph_sandbox, "graph.update_details") == 3  # create's, the 409, the re-apply


def test_dropped_patch_is_retried_safely(client: PlannerClient, graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    _fault(graph_sandbox, "graph.update_task", kind="drop")
    closed = client.update_task(task.id, {"percentComplete": 100}, etag=task.etag)
    assert closed.percent_complete == 100
    # The dropped PATCH was applied; its repeat met a moved etag (412), was re-read and re-applied.
    assert _calls(graph_sandbox, "graph.update_task") == 3


def test_dropped_delete_counts_as_deleted(client: PlannerClient, graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    _fault(graph_sandbox, "graph.delete_task", kind="drop")
    client.delete_task(task.id, etag=task.etag)
    assert graph_sandbox.sandbox.plan_tasks(PLAN) == []


# --- auth, settings, the event loop --------------------------------------------------------------
def test_development_token_matches_the_sandbox_and_stays_on_loopback() -> None:
    assert DEVELOPMENT_TOKEN == DEV_TOKEN
    with pytest.raises(ValueError, match="127.0.0.1 or localhost"):
        PlannerClient(base_url="https://graph.microsoft.com/v1.0", auth=DEV_TOKEN)


def test_a_wrong_token_is_a_401_planner_error(graph_sandbox: Any) -> None:
    with PlannerClient(base_url=f"{graph_sandbox.url}/v1.0", auth="wrong-token") as planner, \
            pytest.raises(PlannerError) as caught:
        planner.get_task("anything")
    assert caught.value.status == 401 and caught.value.code == "InvalidAuthenticationToken"


def _settings(**values: str) -> Any:
    return load_settings({"PLYTIX_API_KEY": "k", "PLYTIX_API_PASSWORD": "p",
                          "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", **values})


def test_from_settings_development_mode_talks_to_the_sandbox(graph_sandbox: Any) -> None:
    settings = _settings(GRAPH_AUTH_MODE="development", GRAPH_BASE_URL=f"{graph_sandbox.url}/v1.0")
    with PlannerClient.from_settings(settings) as planner:
        assert planner.resolve_user(STEWARD) == USER_IDS[STEWARD]
    with pytest.raises(ValueError):
        PlannerClient.from_settings(_settings(GRAPH_AUTH_MODE="development"))


def test_from_settings_credential_modes_keep_secrets_out_of_reprs() -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    settings = _settings(GRAPH_AUTH_MODE="client_secret", GRAPH_TENANT_ID=str(uuid.uuid4()),
                         GRAPH_CLIENT_ID=str(uuid.uuid4()), GRAPH_CLIENT_SECRET=secret)
    planner = PlannerClient.from_settings(settings)  # builds only: no token is requested until a call
    assert type(planner._owned_credential).__name__ == "ClientSecretCredential"
    assert secret not in repr(planner) and secret not in repr(vars(planner))
    planner.close()
    managed = PlannerClient.from_settings(_settings(GRAPH_AUTH_MODE="managed_identity"))
    assert type(managed._owned_credential).__name__ == "ManagedIdentityCredential"
    managed.close()
    with pytest.raises(RuntimeError, match="closed"):
        managed.get_task("x")


def test_one_event_loop_serves_every_client_and_thread(client: PlannerClient, graph_sandbox: Any) -> None:
    created, _ = client.create_task(_spec())
    task = client.get_task(created.id)
    loop = background_loop()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: client.get_task(task.id), range(12)))
    assert all(r == task for r in results)
    with PlannerClient(base_url=f"{graph_sandbox.url}/v1.0", auth=DEV_TOKEN) as second:
        assert second.get_task(task.id) == task
    assert background_loop() is loop  # no loop per client or per call
    assert [t.name for t in threading.enumerate()].count("planner-graph-loop") == 1


def test_a_note_appended_after_a_412_keeps_the_persons_concurrent_edit(client: PlannerClient,
                                                                        graph_sandbox: Any) -> None:
    task, _ = client.create_task(_spec())
    details_url = f"{graph_sandbox.url}/v1.0/planner/tasks/{task.id}/details"
    bearer = {"Authorization": f"Bearer {DEV_TOKEN}"}
    computed: list[str] = []

    def append_note(current: Any) -> str:
        if not computed:  # a person saves an edit after our read and before our write
            etag = httpx.get(details_url, headers=bearer).json()["@odata.etag"]
            httpx.patch(details_url, json={"description": "Edited by a person"},
                        headers={**bearer, "If-Match": etag}).raise_for_status()
        computed.append(current.description)
        return current.description + "\n(closed)"

    updated = client.update_details(task.id, description=append_note)
    assert updated.description == "Edited by a person\n(closed)"
    assert computed[-1] == "Edited by a person" and len(computed) == 2  # 412, re-read, re-computed


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the point
def test_callers_fail_instead_of_hanging_when_the_loop_thread_dies() -> None:
    import asyncio

    async def answer(value: int) -> int:
        return value

    def stop_the_thread() -> None:
        raise SystemExit  # what a stray exit in any callback does to the loop's thread

    died: list[asyncio.AbstractEventLoop] = []

    async def awaited_while_the_loop_dies() -> None:
        # The loop is killed only once this caller is waiting on it. (Killing it before run_sync starts
        # is a different case, and a correct one: run_sync then gets a fresh loop and never fails.)
        died.append(asyncio.get_running_loop())
        died[0].call_soon(stop_the_thread)
        await asyncio.sleep(30)

    assert run_sync(answer(1)) == 1
    with pytest.raises(RuntimeError, match="stopped"):
        run_sync(awaited_while_the_loop_dies())
    assert background_loop() is not died[0] and run_sync(answer(3)) == 3
