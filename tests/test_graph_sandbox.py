"""The Graph (Planner) stand-in behaves as API_FACTS.md and Microsoft's docs say: real HTTP, raw requests.

These tests do not use our client on purpose: they pin the service's rules, which the client is then
tested against (tests/test_planner_client.py)."""

from __future__ import annotations

import uuid
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest

from sandbox.graph import BUCKET_IDS, CATALOG_PLAN_ID, DEV_TOKEN, GROUP_ID, PRODUCT_DATA_PLAN_ID, USER_IDS

PLAN = PRODUCT_DATA_PLAN_ID
STEWARD = "data.steward@contoso.example"
ASSIGNMENT = {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"}


@pytest.fixture
def graph(graph_sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=graph_sandbox.url, headers={"Authorization": f"Bearer {DEV_TOKEN}"},
                      timeout=10) as client:
        yield client


def _create(graph: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = graph.post("/v1.0/planner/tasks", json={"planId": PLAN, "title": "Write description", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert Graph's error shape and return error{}."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "innerError"}
    assert set(error["innerError"]) >= {"date", "request-id"}
    return error


def _checklist(count: int) -> dict[str, Any]:
    return {str(uuid.uuid4()): {"@odata.type": "microsoft.graph.plannerChecklistItem", "title": f"Item {n}"}
            for n in range(count)}


def _references(count: int) -> dict[str, Any]:
    return {f"https%3A//contoso%2Eexample/p/{n}": {"@odata.type": "microsoft.graph.plannerExternalReference",
                                                   "alias": f"Ref {n}", "type": "Other"} for n in range(count)}


# --- auth ----------------------------------------------------------------------------------------------
def test_requests_without_the_development_token_get_401(graph_sandbox: Any) -> None:
    url = f"{graph_sandbox.url}/v1.0/planner/plans/{PLAN}"
    assert _error(httpx.get(url), 401)["code"] == "InvalidAuthenticationToken"
    wrong = httpx.get(url, headers={"Authorization": "Bearer not-the-token"})
    assert _error(wrong, 401)["code"] == "InvalidAuthenticationToken"
    assert httpx.get(url, headers={"Authorization": f"Bearer {DEV_TOKEN}"}).status_code == 200


# --- seed data -------------------------------------------------------------------------------------
def test_seeded_plans_buckets_and_users_are_deterministic(graph: httpx.Client, graph_sandbox: Any) -> None:
    plan = graph.get(f"/v1.0/planner/plans/{PLAN}").json()
    assert plan["title"] == "Product data" and plan["owner"] == GROUP_ID
    assert plan["@odata.etag"].startswith('W/"')
    buckets = {b["name"]: b["id"] for b in graph.get(f"/v1.0/planner/plans/{PLAN}/buckets").json()["value"]}
    assert buckets == BUCKET_IDS[PLAN]
    assert graph.get(f"/v1.0/planner/plans/{CATALOG_PLAN_ID}").json()["title"] == "Catalog projects"


def test_users_resolve_by_upn_case_insensitively_and_by_id(graph: httpx.Client) -> None:
    by_upn = graph.get(f"/v1.0/users/{quote('Data.Steward@Contoso.example')}").json()
    assert by_upn["id"] == USER_IDS[STEWARD] and by_upn["userPrincipalName"] == STEWARD
    assert graph.get(f"/v1.0/users/{USER_IDS[STEWARD]}").json()["userPrincipalName"] == STEWARD
    missing = graph.get("/v1.0/users/nobody@contoso.example")
    assert _error(missing, 404)["code"] == "Request_ResourceNotFound"


# --- creating tasks --------------------------------------------------------------------------------------
def test_create_task_returns_201_with_a_v1_task_and_weak_etag(graph: httpx.Client) -> None:
    task = _create(graph, bucketId=BUCKET_IDS[PLAN]["Launch"], priority=1, appliedCategories={"category3": True},
                   assignments={USER_IDS[STEWARD]: ASSIGNMENT}, dueDateTime="2030-01-01T00:00:00Z")
    assert len(task["id"]) == 28 and task["planId"] == PLAN and task["priority"] == 1
    assert task["@odata.etag"].startswith('W/"') and task["percentComplete"] == 0
    assert list(task["assignments"]) == [USER_IDS[STEWARD]]
    assert task["appliedCategories"] == {"category3": True}
    assert "lastModifiedDateTime" not in task  # v1.0 tasks have none
    assert graph.get(f"/v1.0/planner/tasks/{task['id']}").json() == task


BAD_CREATES = [
    ({"planId": None}, "planId"),
    ({"priority": 11}, "priority"),
    ({"appliedCategories": {"category26": True}}, "category26"),
    ({"assignments": {STEWARD: ASSIGNMENT}}, "GUID"),
    ({"assignments": {USER_IDS[STEWARD]: {"orderHint": " !"}}}, "@odata.type"),
    ({"startDateTime": "2030-02-01T00:00:00Z", "dueDateTime": "2030-01-01T00:00:00Z"}, "later"),
    ({"createdDateTime": "2030-01-01T00:00:00Z"}, "createdDateTime"),
]


def test_create_task_rejects_bad_input_with_400(graph: httpx.Client, graph_sandbox: Any) -> None:
    # One server for all cases: each server start/stop costs more than the requests themselves.
    for fields, fragment in BAD_CREATES:
        error = _error(graph.post("/v1.0/planner/tasks", json={"planId": PLAN, "title": "t", **fields}), 400)
        assert fragment in error["message"], (fields, error)
    assert graph_sandbox.sandbox.plan_tasks(PLAN) == []


def test_more_than_20_assignees_is_403(graph: httpx.Client) -> None:
    assignments = {str(uuid.uuid4()): ASSIGNMENT for _ in range(21)}
    response = graph.post("/v1.0/planner/tasks", json={"planId": PLAN, "title": "t", "assignments": assignments})
    assert _error(response, 403)["code"] == "MaximumAssigneesInTasks"


def test_plan_task_limits_answer_403_with_their_codes(graph: httpx.Client, graph_sandbox: Any) -> None:
    graph_sandbox.sandbox.seed_tasks(PLAN, 2400)
    response = graph.post("/v1.0/planner/tasks", json={"planId": PLAN, "title": "one too many"})
    assert _error(response, 403)["code"] == "MaximumActiveTasksInProject"
    graph_sandbox.sandbox.seed_tasks(CATALOG_PLAN_ID, 9000, completed=True)
    response = graph.post("/v1.0/planner/tasks", json={"planId": CATALOG_PLAN_ID, "title": "one too many"})
    assert _error(response, 403)["code"] == "MaximumTasksInProject"


# --- etags and If-Match -----------------------------------------------------------------------------
def test_patch_and_delete_require_if_match(graph: httpx.Client) -> None:
    task = _create(graph)
    url = f"/v1.0/planner/tasks/{task['id']}"
    missing = _error(graph.patch(url, json={"title": "x"}), 400)
    assert missing["message"].startswith("The If-Match header must be specified")
    _error(graph.patch(url, json={"title": "x"}, headers={"If-Match": "*"}), 400)
    _error(graph.delete(url), 400)
    assert graph.get(url).json()["title"] == "Write description"


def test_stale_etag_is_412_and_every_write_changes_the_etag(graph: httpx.Client) -> None:
    task = _create(graph)
    url = f"/v1.0/planner/tasks/{task['id']}"
    first = graph.patch(url, json={"title": "v2"}, headers={"If-Match": task["@odata.etag"]})
    assert first.status_code == 204 and first.content == b""
    current = graph.get(url).json()
    assert current["@odata.etag"] != task["@odata.etag"] and current["title"] == "v2"
    stale = graph.patch(url, json={"title": "v3"}, headers={"If-Match": task["@odata.etag"]})
    _error(stale, 412)
    represented = graph.patch(url, json={"title": "v3"}, headers={
        "If-Match": current["@odata.etag"], "Prefer": "return=representation"})
    assert represented.status_code == 200 and represented.json()["title"] == "v3"
    assert represented.json()["@odata.etag"] != current["@odata.etag"]
    _error(graph.delete(url, headers={"If-Match": current["@odata.etag"]}), 412)
    assert graph.delete(url, headers={"If-Match": represented.json()["@odata.etag"]}).status_code == 204
    _error(graph.get(url), 404)


def test_task_and_details_have_separate_etags(graph: httpx.Client) -> None:
    task = _create(graph)
    details_url = f"/v1.0/planner/tasks/{task['id']}/details"
    details = graph.get(details_url).json()
    assert details["@odata.etag"] != task["@odata.etag"]
    _error(graph.patch(details_url, json={"description": "x"}, headers={"If-Match": task["@odata.etag"]}), 412)
    _error(graph.patch(f"/v1.0/planner/tasks/{task['id']}", json={"title": "x"},
                       headers={"If-Match": details["@odata.etag"]}), 412)
    ok = graph.patch(details_url, json={"description": "x"}, headers={"If-Match": details["@odata.etag"]})
    assert ok.status_code == 204
    assert graph.get(details_url).json()["@odata.etag"] != details["@odata.etag"]
    assert graph.get(f"/v1.0/planner/tasks/{task['id']}").json()["hasDescription"] is True


def test_completion_sets_completed_fields_and_reopening_clears_them(graph: httpx.Client) -> None:
    task = _create(graph)
    url = f"/v1.0/planner/tasks/{task['id']}"
    done = graph.patch(url, json={"percentComplete": 100}, headers={
        "If-Match": task["@odata.etag"], "Prefer": "return=representation"}).json()
    assert done["completedDateTime"] and done["completedBy"]["application"]["id"]
    reopened = graph.patch(url, json={"percentComplete": 0}, headers={
        "If-Match": done["@odata.etag"], "Prefer": "return=representation"}).json()
    assert reopened["completedDateTime"] is None and reopened["completedBy"] is None
    _error(graph.patch(url, json={"completedDateTime": "2030-01-01T00:00:00Z"},
                       headers={"If-Match": reopened["@odata.etag"]}), 400)


# --- details --------------------------------------------------------------------------------------
def test_details_checklist_and_references_merge_and_null_removes(graph: httpx.Client) -> None:
    task = _create(graph)
    url = f"/v1.0/planner/tasks/{task['id']}/details"
    etag = graph.get(url).json()["@odata.etag"]
    checklist, references = _checklist(2), _references(2)
    body = graph.patch(url, json={"checklist": checklist, "references": references, "previewType": "checklist"},
                       headers={"If-Match": etag, "Prefer": "return=representation"}).json()
    assert set(body["checklist"]) == set(checklist) and set(body["references"]) == set(references)
    assert all(item["isChecked"] is False for item in body["checklist"].values())
    first_key, first_ref = next(iter(checklist)), next(iter(references))
    body = graph.patch(url, json={"checklist": {first_key: None}, "references": {first_ref: None}},
                       headers={"If-Match": body["@odata.etag"], "Prefer": "return=representation"}).json()
    assert first_key not in body["checklist"] and len(body["checklist"]) == 1
    assert first_ref not in body["references"] and len(body["references"]) == 1
    counts = graph.get(f"/v1.0/planner/tasks/{task['id']}").json()
    assert (counts["checklistItemCount"], counts["activeChecklistItemCount"], counts["referenceCount"]) == (1, 1, 1)


BAD_DETAILS = [
    ({"checklist": _checklist(21)}, 403, "MaximumChecklistItemsOnTask"),
    ({"references": _references(11)}, 403, "MaximumReferencesOnTask"),
    ({"references": {"https://contoso.example/p": {"@odata.type": "microsoft.graph.plannerExternalReference"}}},
     400, "BadRequest"),  # the key must encode '.', ':' ...
    ({"checklist": {"not-a-guid": {"@odata.type": "microsoft.graph.plannerChecklistItem", "title": "x"}}},
     400, "BadRequest"),
    ({"checklist": {str(uuid.uuid4()): {"title": "no type"}}}, 400, "BadRequest"),
]


def test_details_limits_and_shapes(graph: httpx.Client) -> None:
    task = _create(graph)
    url = f"/v1.0/planner/tasks/{task['id']}/details"
    etag = graph.get(url).json()["@odata.etag"]
    for body, status, code in BAD_DETAILS:
        assert _error(graph.patch(url, json=body, headers={"If-Match": etag}), status)["code"] == code, body
    assert graph.get(url).json()["@odata.etag"] == etag  # nothing changed


def test_new_details_can_404_for_the_configured_number_of_calls(graph: httpx.Client, graph_sandbox: Any) -> None:
    assert graph.post(f"{graph_sandbox.url}/_sandbox/config", json={"details_404_calls": 2}).status_code == 200
    task = _create(graph)
    url = f"/v1.0/planner/tasks/{task['id']}/details"
    _error(graph.get(url), 404)
    _error(graph.patch(url, json={"description": "x"}, headers={"If-Match": "W/\"x\""}), 404)
    assert graph.get(url).status_code == 200
    assert graph.get(f"/v1.0/planner/tasks/{task['id']}").status_code == 200  # only the details lag


# --- listing ---------------------------------------------------------------------------------------
def test_plan_tasks_come_in_pages_of_400_with_absolute_next_links(graph: httpx.Client, graph_sandbox: Any) -> None:
    graph_sandbox.sandbox.seed_tasks(PLAN, 900)
    url, sizes, ids = f"/v1.0/planner/plans/{PLAN}/tasks?$top=5", [], set()
    while url:
        page = graph.get(url).json()
        sizes.append(len(page["value"]))
        ids |= {t["id"] for t in page["value"]}
        url = page.get("@odata.nextLink")
        assert url is None or url.startswith(graph_sandbox.url + "/v1.0/")
    assert sizes == [400, 400, 100] and len(ids) == 900


def test_buckets_and_plans_can_be_created(graph: httpx.Client) -> None:
    bucket = graph.post("/v1.0/planner/buckets", json={"name": "Amazon", "planId": PLAN, "orderHint": " !"})
    assert bucket.status_code == 201 and bucket.json()["planId"] == PLAN
    names = [b["name"] for b in graph.get(f"/v1.0/planner/plans/{PLAN}/buckets").json()["value"]]
    assert "Amazon" in names
    plan = graph.post("/v1.0/planner/plans", json={
        "container": {"url": f"https://graph.microsoft.com/v1.0/groups/{GROUP_ID}"}, "title": "Rebrand 2031"})
    assert plan.status_code == 201
    assert graph.get(f"/v1.0/planner/plans/{plan.json()['id']}").json()["title"] == "Rebrand 2031"
    _error(graph.post("/v1.0/planner/plans", json={"title": "no container"}), 400)


# --- $batch ---------------------------------------------------------------------------------------
def test_batch_runs_dependencies_in_order_and_fails_dependents_with_424(graph: httpx.Client) -> None:
    task = _create(graph)
    body = {"requests": [
        {"id": "1", "method": "GET", "url": f"/planner/tasks/{task['id']}"},
        {"id": "2", "method": "PATCH", "url": f"/planner/tasks/{task['id']}", "dependsOn": ["1"],
         "headers": {"Content-Type": "application/json", "If-Match": task["@odata.etag"]},
         "body": {"title": "batched"}},
        {"id": "3", "method": "GET", "url": "/planner/tasks/doesNotExist0000000000000000"},
        {"id": "4", "method": "GET", "url": f"/users/{STEWARD}", "dependsOn": ["3"]},
    ]}
    responses = {r["id"]: r for r in graph.post("/v1.0/$batch", json=body).json()["responses"]}
    assert [responses[i]["status"] for i in "1234"] == [200, 204, 404, 424]
    assert graph.get(f"/v1.0/planner/tasks/{task['id']}").json()["title"] == "batched"


def test_batch_limits_and_inner_throttling(graph: httpx.Client, graph_sandbox: Any) -> None:
    too_many = {"requests": [{"id": str(n), "method": "GET", "url": f"/users/{STEWARD}"} for n in range(21)]}
    _error(graph.post("/v1.0/$batch", json=too_many), 400)
    graph_sandbox.app.faults.add("graph.get_user", {"kind": "status", "status": 429, "retry_after": 3})
    two = {"requests": [{"id": "a", "method": "GET", "url": f"/users/{STEWARD}"},
                        {"id": "b", "method": "GET", "url": f"/users/{STEWARD}"}]}
    responses = {r["id"]: r for r in graph.post("/v1.0/$batch", json=two).json()["responses"]}
    assert responses["a"]["status"] == 429 and responses["a"]["headers"]["Retry-After"] == "3"
    assert responses["b"]["status"] == 200
    assert graph_sandbox.app.faults.calls["graph.get_user"] == 2


# --- delta (beta) ---------------------------------------------------------------------------------
DELTA = "/beta/planner/tasks/delta"
DELTA_SELECT = "percentComplete,assignments,creationSource"


def _delta_round(graph: httpx.Client, url: str, params: Any = None) -> tuple[list[dict[str, Any]], str]:
    """Follow nextLinks to the end of a round; return its items and the deltaLink."""
    items: list[dict[str, Any]] = []
    while True:
        response = graph.get(url, params=params)
        assert response.status_code == 200, response.text
        page, params = response.json(), None
        items += page["value"]
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


def test_delta_reports_changes_and_deletions_since_the_delta_link(graph: httpx.Client, graph_sandbox: Any) -> None:
    sandbox = graph_sandbox.sandbox
    ids = sandbox.seed_tasks(PLAN, 450)
    first, delta_link = _delta_round(graph, DELTA, {"$filter": f"planId eq '{PLAN}'", "$select": DELTA_SELECT})
    assert {i["id"] for i in first} == set(ids)
    assert set(first[0]) == {"@odata.etag", "id", "percentComplete", "assignments", "creationSource"}
    sandbox.complete_task(ids[0], by=STEWARD)
    sandbox.delete_task(ids[1])
    changes, _ = _delta_round(graph, delta_link)
    by_id = {i["id"]: i for i in changes}
    assert set(by_id) == {ids[0], ids[1]}
    assert by_id[ids[0]]["percentComplete"] == 100 and by_id[ids[1]]["@removed"] == {"reason": "deleted"}


def test_delta_enforces_the_app_only_filter_and_select(graph: httpx.Client) -> None:
    _error(graph.get(DELTA, params={"$select": DELTA_SELECT}), 400)
    wrong_count = graph.get(DELTA, params={"$filter": f"planId eq '{PLAN}'", "$select": "percentComplete"})
    _error(wrong_count, 405)
    wrong_props = graph.get(DELTA, params={"$filter": f"planId eq '{PLAN}'", "$select": "title,priority,bucketId"})
    _error(wrong_props, 403)


def test_delta_link_answers_410_when_the_sync_state_is_gone(graph: httpx.Client, graph_sandbox: Any) -> None:
    _, delta_link = _delta_round(graph, DELTA, {"$filter": f"planId eq '{PLAN}'", "$select": DELTA_SELECT})
    graph_sandbox.sandbox.configure(delta_gone=True)
    _error(graph.get(delta_link), 410)
    graph_sandbox.sandbox.configure(delta_gone=False)
    assert graph.get(delta_link).status_code == 200


# --- admin API ------------------------------------------------------------------------------------
def test_admin_api_plays_the_people_in_planner(graph: httpx.Client, graph_sandbox: Any) -> None:
    admin = httpx.Client(base_url=f"{graph_sandbox.url}/_sandbox")
    task = _create(graph)
    key = str(uuid.uuid4())
    details = graph.get(f"/v1.0/planner/tasks/{task['id']}/details").json()
    graph.patch(f"/v1.0/planner/tasks/{task['id']}/details", headers={"If-Match": details["@odata.etag"]},
                json={"checklist": {key: {"@odata.type": "microsoft.graph.plannerChecklistItem", "title": "x"}}})
    ticked = admin.patch(f"/tasks/{task['id']}/details/checklist/{key}", json={"isChecked": True})
    assert ticked.status_code == 200 and ticked.json()["checklist"][key]["isChecked"] is True
    done = admin.post(f"/tasks/{task['id']}/complete", json={"by": STEWARD}).json()
    assert done["percentComplete"] == 100 and done["completedBy"]["user"]["id"] == USER_IDS[STEWARD]
    assert admin.post(f"/tasks/{task['id']}/reopen").json()["percentComplete"] == 0
    listed = admin.get(f"/plans/{PLAN}/tasks").json()["value"]
    assert [t["id"] for t in listed] == [task["id"]] and key in listed[0]["details"]["checklist"]
    stats = admin.get("/stats").json()
    assert stats["plans"][PLAN]["tasks"] == 1 and stats["calls"]["graph.create_task"] == 1
    assert admin.post("/config", json={"bogus": 1}).status_code == 422
    assert admin.delete(f"/tasks/{task['id']}").status_code == 204
    _error(graph.get(f"/v1.0/planner/tasks/{task['id']}"), 404)
    admin.close()


def test_unknown_graph_paths_answer_in_graph_shape(graph: httpx.Client) -> None:
    _error(graph.get("/v1.0/planner/nothing"), 400)
    _error(graph.put(f"/v1.0/planner/plans/{PLAN}", json={}), 405)
