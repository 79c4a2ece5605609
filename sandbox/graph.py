"""A Microsoft Graph (Planner) stand-in: real HTTP on 127.0.0.1 that behaves as the real service does.

Written from API_FACTS.md and Microsoft's Graph documentation (see sandbox/graph_state.py for the rule
sources), never from what our client happens to send: the client is tested against the service's rules.

Routes (endpoint names in brackets, for fault injection and call counts; see sandbox/base.py):
  /v1.0  POST planner/tasks [graph.create_task]   GET|PATCH|DELETE planner/tasks/{id} [graph.get_task,
         graph.update_task, graph.delete_task]    GET|PATCH planner/tasks/{id}/details [graph.get_details,
         graph.update_details]                    GET planner/plans/{id}/tasks [graph.list_plan_tasks]
         GET planner/plans/{id}/buckets [graph.list_buckets]   POST planner/buckets [graph.create_bucket]
         POST planner/plans [graph.create_plan]  GET planner/plans/{id} [graph.get_plan]
         GET groups/{id}/planner/plans [graph.list_group_plans]
         GET users/{id or UPN} [graph.get_user]  POST $batch [graph.batch]
  /beta  GET planner/tasks/delta, and the deltaLink form planner/plans('{id}')/tasks [graph.delta]
Every Graph route needs `Authorization: Bearer <DEV_TOKEN>`.

Admin API for tests, the demo and people (no auth, not counted, never faulted):
  GET /_sandbox/plans/{id}/tasks            every task with its details
  POST /_sandbox/tasks/{id}/complete {"by": upn}   a person completes the task in Planner
  POST /_sandbox/tasks/{id}/reopen          a person reopens it
  POST /_sandbox/tasks/{id}/assign {"to": [upn, ...], "by": upn}   a person reassigns it
  DELETE /_sandbox/tasks/{id}               a person deletes it
  DELETE /_sandbox/buckets/{id}             a person deletes a bucket (its tasks go with it)
  PATCH /_sandbox/tasks/{id}/details/checklist/{key} {"isChecked": true}   a person ticks an item
  POST /_sandbox/config {"details_404_calls": N, "delta_gone": bool}
  GET /_sandbox/stats
plus base.py's /_sandbox/faults and /_sandbox/calls. The same operations are methods on GraphSandbox.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, quote, unquote, urlsplit

from sandbox.base import App, HttpError, Request, Response
from sandbox.graph_state import (
    BUCKET_IDS,
    CATALOG_PLAN_ID,
    GROUP_ID,
    PRODUCT_DATA_PLAN_ID,
    USER_IDS,
    PlannerState,
    graph_error,
)

__all__ = ["DEV_TOKEN", "GraphSandbox", "BUCKET_IDS", "CATALOG_PLAN_ID", "GROUP_ID", "PRODUCT_DATA_PLAN_ID",
           "USER_IDS"]

DEV_TOKEN = "sandbox-graph-token"
PAGE_SIZE = 400  # plannerplan-list-tasks: pages of about 400 with @odata.nextLink; $top is ignored
DELTA_PAGE_SIZE = 400
BATCH_LIMIT = 20  # json-batching: at most 20 requests per $batch
# plannertask-delta (beta, app-only): exactly this $select and a $filter on one plan; a round pages with
# @odata.nextLink and ends with @odata.deltaLink; removed tasks come as {"id", "@removed"}; an expired
# token is 410 ("plannerTask: delta", https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta,
# and "Use delta query to track changes", https://learn.microsoft.com/graph/delta-query-overview).
DELTA_SELECT = frozenset({"percentComplete", "assignments", "creationSource"})
_DELTA_FILTER = re.compile(r"^\s*planId\s+eq\s+'(?P<plan_id>[^']+)'\s*$")
_ID = r"(?P<{}>[^/]+)"

GraphHandler = Callable[[Request], Response]


# Graph's error codes for the statuses a fault can inject ("Microsoft Graph error responses and resource
# types", https://learn.microsoft.com/graph/errors: code values such as generalException, serviceNotAvailable).
_FAULT_CODES = {401: "InvalidAuthenticationToken", 408: "timeout", 409: "conflict", 412: "preconditionFailed",
                429: "TooManyRequests", 500: "generalException", 502: "generalException",
                503: "serviceNotAvailable", 504: "generalException"}


def _fault_body(status: int) -> Any:
    """An injected fault's body in Graph's error shape: error.code, error.message, error.innerError with
    request-id and date, as every real Graph error has."""
    return graph_error(status, _FAULT_CODES.get(status, "generalException"), f"injected {status}").response.body


def _json_body(req: Request) -> Any:
    if not req.body:
        raise graph_error(400, "BadRequest", "A request body is required.")
    try:
        return json.loads(req.body)
    except ValueError:
        raise graph_error(400, "BadRequest", "The request body is not valid JSON.") from None


def _wants_representation(req: Request) -> bool:
    """`Prefer: return=representation` asks PATCH for 200 with the body instead of 204."""
    return "return=representation" in req.headers.get("prefer", "").replace(" ", "").split(",")


def _base_url(req: Request) -> str:
    return f"http://{req.headers.get('host', '127.0.0.1')}"


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_token(token: str, *required: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or any(key not in payload for key in required):
        raise graph_error(400, "BadRequest", "The paging or delta token is not valid.")
    return payload


class GraphSandbox:
    """The Planner stand-in. `app` is the route table that sandbox.base.RunningServer serves."""

    def __init__(self, *, seed: int = 7) -> None:
        self.state = PlannerState(seed=seed)
        self.app = App("graph", fault_body=_fault_body)
        self._register_graph_routes()
        self._register_admin_routes()

    # --- routing helpers ------------------------------------------------------------------------
    def _graph(self, method: str, path_regex: str, name: str) -> Callable[[GraphHandler], GraphHandler]:
        """Register a Graph route: bearer token checked first, path parameters URL-decoded."""

        def register(handler: GraphHandler) -> GraphHandler:
            def guarded(req: Request) -> Response:
                self._authenticate(req)
                req.params = {k: unquote(v) for k, v in req.params.items()}
                return handler(req)

            self.app.route(method, path_regex, name)(guarded)
            return handler

        return register

    @staticmethod
    def _authenticate(req: Request) -> None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if not token:
            raise graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if scheme.lower() != "bearer" or token.strip() != DEV_TOKEN:
            raise graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")

    # --- Graph routes ------------------------------------------------------------------------------
    def _register_graph_routes(self) -> None:
        state = self.state
        v1 = "/v1\\.0"

        @self._graph("POST", f"{v1}/planner/tasks", "graph.create_task")
        def create_task(req: Request) -> Response:
            return Response(201, state.create_task(_json_body(req)))

        @self._graph("GET", f"{v1}/planner/tasks/{_ID.format('task_id')}", "graph.get_task")
        def get_task(req: Request) -> Response:
            return Response(200, state.require_task(req.params["task_id"]).task)

        @self._graph("PATCH", f"{v1}/planner/tasks/{_ID.format('task_id')}", "graph.update_task")
        def update_task(req: Request) -> Response:
            task = state.update_task(req.params["task_id"], _json_body(req), req.headers.get("if-match"))
            return Response(200, task) if _wants_representation(req) else Response(204)

        @self._graph("DELETE", f"{v1}/planner/tasks/{_ID.format('task_id')}", "graph.delete_task")
        def delete_task(req: Request) -> Response:
            state.delete_task(req.params["task_id"], req.headers.get("if-match"))
            return Response(204)

        @self._graph("GET", f"{v1}/planner/tasks/{_ID.format('task_id')}/details", "graph.get_details")
        def get_details(req: Request) -> Response:
            return Response(200, state.get_details(req.params["task_id"]))

        @self._graph("PATCH", f"{v1}/planner/tasks/{_ID.format('task_id')}/details", "graph.update_details")
        def update_details(req: Request) -> Response:
            details = state.update_details(req.params["task_id"], _json_body(req), req.headers.get("if-match"))
            return Response(200, details) if _wants_representation(req) else Response(204)

        @self._graph("GET", f"{v1}/planner/plans/{_ID.format('plan_id')}/tasks", "graph.list_plan_tasks")
        def list_plan_tasks(req: Request) -> Response:
            return Response(200, self._plan_tasks_page(req))

        @self._graph("GET", f"{v1}/planner/plans/{_ID.format('plan_id')}/buckets", "graph.list_buckets")
        def list_buckets(req: Request) -> Response:
            return Response(200, {"value": state.plan_buckets(req.params["plan_id"])})

        @self._graph("POST", f"{v1}/planner/buckets", "graph.create_bucket")
        def create_bucket(req: Request) -> Response:
            return Response(201, state.create_bucket(_json_body(req)))

        @self._graph("POST", f"{v1}/planner/plans", "graph.create_plan")
        def create_plan(req: Request) -> Response:
            return Response(201, state.create_plan(_json_body(req)))

        @self._graph("GET", f"{v1}/groups/{_ID.format('group_id')}/planner/plans", "graph.list_group_plans")
        def list_group_plans(req: Request) -> Response:
            return Response(200, {"value": state.group_plans(req.params["group_id"])})

        @self._graph("GET", f"{v1}/planner/plans/{_ID.format('plan_id')}", "graph.get_plan")
        def get_plan(req: Request) -> Response:
            return Response(200, state.require_plan(req.params["plan_id"]))

        @self._graph("GET", f"{v1}/users/{_ID.format('user')}", "graph.get_user")
        def get_user(req: Request) -> Response:
            user = state.find_user(req.params["user"])
            if user is None:
                raise graph_error(404, "Request_ResourceNotFound",
                                  f"Resource '{req.params['user']}' does not exist or one of its queried "
                                  "reference-property objects are not present.")
            return Response(200, {"@odata.context": f"{_base_url(req)}/v1.0/$metadata#users/$entity", **user})

        @self._graph("POST", f"{v1}/\\$batch", "graph.batch")
        def batch(req: Request) -> Response:
            return Response(200, self._batch(req))

        @self._graph("GET", "/beta/planner/tasks/delta", "graph.delta")
        def delta(req: Request) -> Response:
            return Response(200, self._delta(req, path_plan_id=None))

        # The deltaLink form from the docs' example: /beta/planner/plans('{id}')/tasks?...&$deltatoken=...
        @self._graph("GET", "/beta/planner/plans(?:\\(|%28)(?:'|%27)(?P<plan_id>[^'%/]+)(?:'|%27)(?:\\)|%29)/tasks",
                     "graph.delta")
        def delta_link(req: Request) -> Response:
            return Response(200, self._delta(req, path_plan_id=req.params["plan_id"]))

        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self._graph(method, "/(?:v1\\.0|beta)/.*", "graph.unknown")(self._unknown)

    def _unknown(self, req: Request) -> Response:
        """Graph-shaped answers for paths no route serves: 405 for a known path, else 400 like Graph."""
        known = any(r.pattern.fullmatch(req.path) for r in self.app.routes if r.name != "graph.unknown")
        if known:
            raise graph_error(405, "Request_BadRequest", f"The method {req.method} is not allowed here.")
        raise graph_error(400, "BadRequest", f"Resource not found for the segment '{req.path}'.")

    def _plan_tasks_page(self, req: Request) -> dict[str, Any]:
        plan_id = req.params["plan_id"]
        records = self.state.plan_records(plan_id)
        skip = req.arg("$skiptoken")
        after = int(_decode_token(skip, "after")["after"]) if skip else -1
        remaining = [r for r in records if r.seq > after]
        page = remaining[:PAGE_SIZE]
        body: dict[str, Any] = {
            "@odata.context": f"{_base_url(req)}/v1.0/$metadata#planner/plans('{plan_id}')/tasks",
            "value": [r.task for r in page]}
        if len(remaining) > PAGE_SIZE:
            token = quote(_encode_token({"after": page[-1].seq}))
            body["@odata.nextLink"] = f"{_base_url(req)}/v1.0/planner/plans/{plan_id}/tasks?$skiptoken={token}"
        return body

    # --- delta (beta) ----------------------------------------------------------------------------
    def _delta(self, req: Request, path_plan_id: Optional[str]) -> dict[str, Any]:
        """One page of a delta round. Tokens carry (plan, since, until, after) so paging is stateless;
        a round's window is (since, until], walked in version order."""
        state = self.state
        delta_token, skip_token = req.arg("$deltatoken"), req.arg("$skiptoken")
        if skip_token:
            cursor = _decode_token(skip_token, "plan", "since", "until", "after", "removed")
        elif delta_token:
            if state.config.delta_gone:
                raise graph_error(410, "SyncStateNotFound",
                                  "The sync state generation is not found. The delta token is expired and data "
                                  "must be synchronized again.")
            token = _decode_token(delta_token, "plan", "since")
            cursor = {"plan": token["plan"], "since": token["since"], "until": state.version,
                      "after": token["since"], "removed": True}
        elif path_plan_id is None:
            plan_id = self._delta_plan_from_query(req)
            cursor = {"plan": plan_id, "since": 0, "until": state.version, "after": 0, "removed": False}
        else:
            raise graph_error(400, "BadRequest", "This URL is only valid as a deltaLink with $deltatoken.")
        plan_id = str(cursor["plan"])
        if path_plan_id is not None and path_plan_id != plan_id:
            raise graph_error(400, "BadRequest", "The delta token belongs to another plan.")
        state.require_plan(plan_id)
        changes = state.changes_since(plan_id, int(cursor["after"]), int(cursor["until"]),
                                      include_removed=bool(cursor["removed"]))
        page = changes[:DELTA_PAGE_SIZE]
        base = _base_url(req)
        body: dict[str, Any] = {"@odata.context": f"{base}/beta/$metadata#Collection(microsoft.graph.plannerTask)",
                                "value": [self._delta_item(task_id, task) for _, task_id, task in page]}
        if len(changes) > DELTA_PAGE_SIZE:
            skip = quote(_encode_token({**cursor, "after": page[-1][0]}))
            body["@odata.nextLink"] = f"{base}/beta/planner/tasks/delta?$skiptoken={skip}"
        else:
            next_round = quote(_encode_token({"plan": plan_id, "since": cursor["until"]}))
            select = ",".join(sorted(DELTA_SELECT))
            body["@odata.deltaLink"] = (f"{base}/beta/planner/plans('{plan_id}')/tasks"
                                        f"?$select={select}&$deltatoken={next_round}")
        return body

    @staticmethod
    def _delta_plan_from_query(req: Request) -> str:
        """App-only delta needs `$filter=planId eq '{id}'` and exactly the three documented $select
        properties: another count is 405, three others are 403 (plannertask-delta.md, beta)."""
        found = _DELTA_FILTER.match(req.arg("$filter") or "")
        if not found:
            raise graph_error(400, "BadRequest", "App-only delta requires $filter=planId eq '{planId}'.")
        selected = {p.strip() for p in (req.arg("$select") or "").split(",") if p.strip()} - {"id"}
        if len(selected) != len(DELTA_SELECT):
            raise graph_error(405, "MethodNotAllowed", "App-only delta requires "
                              "$select=percentComplete,assignments,creationSource.")
        if selected != DELTA_SELECT:
            raise graph_error(403, "Forbidden", "App-only delta may select only percentComplete, assignments "
                              "and creationSource.")
        return found.group("plan_id")

    @staticmethod
    def _delta_item(task_id: str, task: Optional[dict[str, Any]]) -> dict[str, Any]:
        if task is None:
            return {"id": task_id, "@removed": {"reason": "deleted"}}
        return {"@odata.etag": task["@odata.etag"], "percentComplete": task["percentComplete"],
                "assignments": task["assignments"], "creationSource": {"publication": None, "externalSource": None},
                "id": task_id}

    # --- $batch -------------------------------------------------------------------------------------
    def _batch(self, req: Request) -> dict[str, Any]:
        """json-batching: <= 20 requests; dependsOn runs them in order and a failed dependency answers 424.
        Each inner request goes through the same handlers, faults and call counts as a direct call."""
        body = _json_body(req)
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise graph_error(400, "BadRequest", "A batch needs a non-empty 'requests' array.")
        if len(requests) > BATCH_LIMIT:
            raise graph_error(400, "BadRequest", f"A batch holds at most {BATCH_LIMIT} requests "
                              f"({len(requests)} sent).")
        seen: dict[str, int] = {}
        for item in requests:
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("id", "method", "url")):
                raise graph_error(400, "BadRequest", "Each batch request needs string 'id', 'method' and 'url'.")
            depends = item.get("dependsOn", [])
            if not isinstance(depends, list) or any(d not in seen for d in depends):
                raise graph_error(400, "BadRequest", f"Request '{item['id']}': dependsOn must name earlier "
                                  "requests of the same batch.")
            if item["id"] in seen:
                raise graph_error(400, "BadRequest", f"Request id '{item['id']}' is used twice.")
            seen[item["id"]] = 0
        responses = []
        for item in requests:
            if any(seen[d] >= 400 for d in item.get("dependsOn", [])):
                answer = graph_error(424, "FailedDependency", "A request this one depends on failed.").response
            else:
                answer = self._inner(req, item)
            seen[item["id"]] = answer.status
            headers = dict(answer.headers)
            if answer.body is not None:
                headers.setdefault("Content-Type", "application/json")
            responses.append({"id": item["id"], "status": answer.status, "headers": headers, "body": answer.body})
        return {"responses": responses}

    def _inner(self, outer: Request, item: dict[str, Any]) -> Response:
        split = urlsplit("/v1.0/" + item["url"].lstrip("/"))
        method = item["method"].upper()
        route, params, _ = self.app.match(method, split.path)
        if route is None or route.name in ("graph.batch", "admin"):
            return graph_error(400, "BadRequest", f"'{method} {item['url']}' cannot be batched here.").response
        headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        payload = b""
        if "body" in item:
            if "content-type" not in headers:
                return graph_error(400, "BadRequest",
                                   "A batched request with a body needs a Content-Type header.").response
            payload = json.dumps(item["body"]).encode()
        headers["authorization"] = outer.headers.get("authorization", "")
        headers["host"] = outer.headers.get("host", "")
        fault = self.app.faults.take(route.name)
        if fault and fault["kind"] == "status":
            status = int(fault["status"])
            retry = {"Retry-After": str(fault.get("retry_after", 1))} if status in (429, 503) else {}
            return HttpError(status, _fault_body(status), retry).response
        if fault and fault["kind"] == "hang":  # the gateway gave up before the service acted
            return graph_error(504, "GatewayTimeout", "The inner request timed out.").response
        inner = Request(method, split.path, parse_qs(split.query, keep_blank_values=True), headers, payload, params)
        try:
            answer = route.handler(inner)
        except HttpError as exc:
            answer = exc.response
        if fault and fault["kind"] == "drop":  # the service acted, the gateway lost its answer
            return graph_error(504, "GatewayTimeout", "The inner request timed out.").response
        return answer

    # --- admin API: what people do in the Planner UI, and switches -------------------------------------
    def _register_admin_routes(self) -> None:
        def admin(method: str, path_regex: str) -> Callable[[GraphHandler], GraphHandler]:
            def register(handler: GraphHandler) -> GraphHandler:
                def decoded(req: Request) -> Response:
                    req.params = {k: unquote(v) for k, v in req.params.items()}
                    return handler(req)

                self.app.route(method, path_regex, "admin")(decoded)
                return handler

            return register

        @admin("GET", f"/_sandbox/plans/{_ID.format('plan_id')}/tasks")
        def plan_tasks(req: Request) -> Response:
            return Response(200, {"value": self.plan_tasks(req.params["plan_id"])})

        @admin("POST", f"/_sandbox/tasks/{_ID.format('task_id')}/complete")
        def complete(req: Request) -> Response:
            body = _json_body(req)
            by = body.get("by") if isinstance(body, dict) else None
            if not isinstance(by, str):
                raise graph_error(422, "BadRequest", "Send {\"by\": \"<user principal name>\"}.")
            return Response(200, self.complete_task(req.params["task_id"], by))

        @admin("POST", f"/_sandbox/tasks/{_ID.format('task_id')}/reopen")
        def reopen(req: Request) -> Response:
            return Response(200, self.reopen_task(req.params["task_id"]))

        @admin("POST", f"/_sandbox/tasks/{_ID.format('task_id')}/assign")
        def assign(req: Request) -> Response:
            body = _json_body(req)
            to, by = (body.get("to"), body.get("by")) if isinstance(body, dict) else (None, None)
            if not isinstance(to, list) or not all(isinstance(u, str) for u in to) or not isinstance(by, str):
                raise graph_error(422, "BadRequest", "Send {\"to\": [\"<upn>\", ...], \"by\": \"<upn>\"}.")
            return Response(200, self.reassign_task(req.params["task_id"], to, by))

        @admin("DELETE", f"/_sandbox/tasks/{_ID.format('task_id')}")
        def delete(req: Request) -> Response:
            self.delete_task(req.params["task_id"])
            return Response(204)

        @admin("DELETE", f"/_sandbox/buckets/{_ID.format('bucket_id')}")
        def delete_bucket(req: Request) -> Response:
            self.delete_bucket(req.params["bucket_id"])
            return Response(204)

        @admin("PATCH", f"/_sandbox/tasks/{_ID.format('task_id')}/details/checklist/{_ID.format('key')}")
        def tick(req: Request) -> Response:
            return Response(200, self.state.set_checklist_item(req.params["task_id"], req.params["key"],
                                                               _json_body(req)))

        @admin("POST", "/_sandbox/config")
        def config(req: Request) -> Response:
            body = _json_body(req)
            if not isinstance(body, dict):
                raise graph_error(422, "BadRequest", "Send a JSON object of settings.")
            return Response(200, self.configure(**body))

        @admin("GET", "/_sandbox/stats")
        def stats(_: Request) -> Response:
            return Response(200, self.stats())

    # --- the same operations for in-process tests ----------------------------------------------------
    def plan_tasks(self, plan_id: str) -> list[dict[str, Any]]:
        """Every task of the plan, each with its details under "details" (for inspection)."""
        with self.app.lock:
            return [{**r.task, "details": r.details} for r in self.state.plan_records(plan_id)]

    def complete_task(self, task_id: str, by: str) -> dict[str, Any]:
        """A person (by UPN or object id) marks the task complete in Planner."""
        with self.app.lock:
            user = self.state.find_user(by)
            if user is None:
                raise graph_error(404, "Request_ResourceNotFound", f"No user '{by}'.")
            return self.state.set_completion(task_id, 100, self.state.user_identity(user["id"]))

    def reopen_task(self, task_id: str) -> dict[str, Any]:
        with self.app.lock:
            return self.state.set_completion(task_id, 0, self.state.app_identity())

    def reassign_task(self, task_id: str, to: list[str], by: str) -> dict[str, Any]:
        """A person (`by`, a UPN or object id) gives the task to exactly the users in `to`."""
        with self.app.lock:
            users = [self.state.find_user(name) for name in [*to, by]]
            unknown = [name for name, user in zip([*to, by], users, strict=False) if user is None]
            if unknown:
                raise graph_error(404, "Request_ResourceNotFound", f"No user {', '.join(map(repr, unknown))}.")
            return self.state.set_assignees(task_id, [u["id"] for u in users[:-1] if u],
                                            self.state.user_identity(users[-1]["id"] if users[-1] else ""))

    def delete_task(self, task_id: str) -> None:
        """A person deletes the task in Planner (no etag needed in the UI)."""
        with self.app.lock:
            self.state.remove_task(task_id)

    def delete_bucket(self, bucket_id: str) -> None:
        """A person deletes a bucket, and with it its tasks."""
        with self.app.lock:
            self.state.remove_bucket(bucket_id)

    def tick_checklist_item(self, task_id: str, key: str, is_checked: bool = True) -> dict[str, Any]:
        with self.app.lock:
            return self.state.set_checklist_item(task_id, key, {"isChecked": is_checked})

    def seed_tasks(self, plan_id: str, count: int, *, completed: bool = False) -> list[str]:
        """Bulk-add tasks (no limits, no faults): for paging, limit and bench scenarios."""
        with self.app.lock:
            return self.state.seed_tasks(plan_id, count, completed=completed)

    def configure(self, *, details_404_calls: Optional[int] = None, delta_gone: Optional[bool] = None,
                  **unknown: Any) -> dict[str, Any]:
        """Flip the switches; unknown names or wrong types answer 422 (HTTP) / raise HttpError."""
        if unknown:
            raise graph_error(422, "BadRequest", f"Unknown settings: {', '.join(sorted(unknown))}; "
                              "known: details_404_calls, delta_gone.")
        if details_404_calls is not None and (not isinstance(details_404_calls, int) or details_404_calls < 0):
            raise graph_error(422, "BadRequest", "details_404_calls must be an integer >= 0.")
        if delta_gone is not None and not isinstance(delta_gone, bool):
            raise graph_error(422, "BadRequest", "delta_gone must be true or false.")
        with self.app.lock:
            if details_404_calls is not None:
                self.state.config.details_404_calls = details_404_calls
            if delta_gone is not None:
                self.state.config.delta_gone = delta_gone
            return asdict(self.state.config)

    def stats(self) -> dict[str, Any]:
        """Per-plan task counts, per-endpoint call counts and the switches (the demo and benches print it)."""
        with self.app.lock:
            plans = {}
            for plan_id, plan in self.state.plans.items():
                records = self.state.plan_records(plan_id)
                plans[plan_id] = {"title": plan["title"], "tasks": len(records),
                                  "active": sum(1 for r in records if r.task["percentComplete"] < 100),
                                  "buckets": len(self.state.plan_buckets(plan_id))}
            calls = {k: v for k, v in self.app.faults.calls.items() if k != "admin"}
            return {"plans": plans, "calls": calls, "config": asdict(self.state.config)}
