"""function_app as Azure sees it (indexed like the worker) and as a user reaches it (HTTP through the
local host, a separate process like the real worker, against the sandboxes and Azurite)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from devhost.index import FunctionIndexError, index_app
from tests.devhost_process import running_devhost
from tests.scan_world import RULES_YAML, devhost_env

KEY = "test-function-key"
# The app settings the host resolves in binding expressions (%NAME%): it will not start without them.
HOST_SETTINGS = {"FULL_SWEEP_SCHEDULE": "0 0 2 * * *", "INCREMENTAL_SCHEDULE": "0 */5 * * * *",
                 "COMPLETION_SCHEDULE": "0 */1 * * * *", "QUEUE_PREFIX": "pp"}


def test_function_app_declares_the_functions_azure_will_index():
    import function_app

    functions = {f.name: f for f in index_app(function_app.app, HOST_SETTINGS)}
    assert set(functions) == {"health", "scans", "scan_status", "audit", "full_sweep", "incremental_pass",
                              "completion_watcher", "writebacks", "writeback_retry", "scan_worker",
                              "channel_webhook", "channel_feed_check", "planner_notifications",
                              "planner_notification_worker", "dashboard", "openapi", "projects", "project",
                              "project_report"}
    http = {name: (f.route, f.methods, f.auth_level) for name, f in functions.items() if f.route is not None}
    assert http == {"health": ("health", ("GET",), "anonymous"), "scans": ("scans", ("POST",), "function"),
                    "scan_status": ("scans/{run_id}", ("GET",), "function"),
                    "audit": ("audit", ("GET",), "function"), "writebacks": ("writebacks", ("GET",), "function"),
                    "writeback_retry": ("writebacks/{id}/retry", ("POST",), "function"),
                    "channel_webhook": ("plytix/channel-webhook", ("POST",), "anonymous"),
                    "planner_notifications": ("planner/notifications", ("POST",), "anonymous"),
                    "dashboard": ("dashboard", ("GET",), "function"),
                    "projects": ("projects", ("GET",), "function"), "project": ("projects/{id}", ("GET",), "function"),
                    "project_report": ("projects/{id}/report", ("GET",), "function"),
                    "openapi": ("openapi.json", ("GET",), "anonymous")}
    watcher = functions["completion_watcher"]
    assert (watcher.trigger_type, watcher.schedule_resolved) == ("timerTrigger", "0 */1 * * * *")
    sweep = functions["full_sweep"]
    assert sweep.trigger_type == "timerTrigger"
    assert sweep.schedule == "%FULL_SWEEP_SCHEDULE%"
    assert sweep.schedule_resolved == "0 0 2 * * *"
    webhook = functions["channel_webhook"]
    assert (webhook.route, webhook.methods, webhook.auth_level) == ("plytix/channel-webhook", ("POST",), "anonymous")
    assert [out.queue_name for out in webhook.queue_outputs] == ["pp-channel-checks"]
    notified = functions["planner_notification_worker"]
    assert [out.queue_name for out in functions["planner_notifications"].queue_outputs] == ["pp-planner-notifications"]
    assert (notified.trigger_type, notified.queue_name) == ("queueTrigger", "pp-planner-notifications")
    check = functions["channel_feed_check"]
    assert (check.trigger_type, check.queue_name) == ("queueTrigger", "pp-channel-checks")
    incremental = functions["incremental_pass"]
    assert (incremental.trigger_type, incremental.schedule) == ("timerTrigger", "%INCREMENTAL_SCHEDULE%")
    assert incremental.schedule_resolved == "0 */5 * * * *"
    # POST /api/scans queues what scan_worker runs: one queue, on the host's storage connection.
    worker = functions["scan_worker"]
    [queued] = functions["scans"].queue_outputs
    assert (worker.trigger_type, worker.queue_name, worker.connection) == ("queueTrigger", "pp-scans",
                                                                          "AzureWebJobsStorage")
    assert (queued.queue_name, queued.connection) == ("pp-scans", "AzureWebJobsStorage")


def test_the_binding_settings_are_required_like_the_real_host():
    import function_app

    for missing in HOST_SETTINGS:
        with pytest.raises(FunctionIndexError, match=missing):
            index_app(function_app.app, {k: v for k, v in HOST_SETTINGS.items() if k != missing})


@pytest.fixture
def host(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str, tmp_path: Path) -> Iterator[dict]:
    """`python -m devhost` in its own process, configured only through app settings (environment)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    env = devhost_env(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules, **HOST_SETTINGS,
                      ENVIRONMENT_NAME="http-test", DEVHOST_FUNCTION_KEY=KEY)
    with running_devhost(env, tmp_path) as devhost:
        yield {"base": devhost.base, "graph": graph_sandbox, "plytix": plytix_sandbox, "queue_prefix": table_prefix}
    output = devhost.output()
    assert "sandbox-api-password" not in output and "AccountKey=" not in output, "secrets in the host log"


def test_health_reports_version_and_every_dependency_without_secrets(host):
    response = httpx.get(f"{host['base']}/health", timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"table_storage": True, "plytix": True, "rules": True, "graph": True,
                              "poison_queues": True, "rules_match_plytix": True}
    assert body["poison_messages"] == {f"{host['queue_prefix']}-scans-poison": 0,
                                       f"{host['queue_prefix']}-channel-checks-poison": 0,
                                       f"{host['queue_prefix']}-planner-notifications-poison": 0}
    assert body["version"]
    assert "sandbox-api-password" not in response.text and "AccountKey" not in response.text


def _upstream_calls(host: dict) -> tuple[int, int]:
    return sum(host["plytix"].app.faults.calls.values()), sum(host["graph"].app.faults.calls.values())


def test_health_answers_from_its_cache_until_asked_to_look_deep(host):
    fresh = httpx.get(f"{host['base']}/health", params={"deep": "true"}, timeout=30).json()
    assert fresh["cached"] is False and fresh["status"] == "ok"
    calls = _upstream_calls(host)

    cached = httpx.get(f"{host['base']}/health", timeout=30).json()
    assert cached["cached"] is True and cached["checked_at"] == fresh["checked_at"]
    assert cached["checks"] == fresh["checks"] and cached["age_seconds"] >= 0
    assert _upstream_calls(host) == calls, "a cached answer calls neither Plytix nor Graph"

    again = httpx.get(f"{host['base']}/health", params={"deep": "true"}, timeout=30).json()
    assert again["cached"] is False
    plytix, graph = _upstream_calls(host)
    assert (plytix - calls[0], graph - calls[1]) == (1, 1)  # one search, one plan read

    bad = httpx.get(f"{host['base']}/health", params={"deep": "perhaps"}, timeout=30)
    assert bad.status_code == 400 and "deep" in bad.json()["error"]


def test_scans_need_the_function_key(host):
    assert httpx.post(f"{host['base']}/scans", json={"dry_run": True}).status_code == 401
    assert httpx.get(f"{host['base']}/audit", params={"product": "x"}).status_code == 401
    assert httpx.get(f"{host['base']}/scans/0123456789ab").status_code == 401


def test_bad_scan_requests_get_a_json_reason(host):
    headers = {"x-functions-key": KEY}
    bad_json = httpx.post(f"{host['base']}/scans", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    unknown = httpx.post(f"{host['base']}/scans", json={"dryrun": True}, headers=headers)
    assert unknown.status_code == 400 and "dryrun" in unknown.json()["error"]
    no_rule = httpx.post(f"{host['base']}/scans", json={"rules": ["nope"]}, headers=headers)
    assert no_rule.status_code == 400 and "nope" in no_rule.json()["error"]
    no_product = httpx.get(f"{host['base']}/audit", headers=headers)
    assert no_product.status_code == 400 and "product" in no_product.json()["error"]
    bad_wait = httpx.post(f"{host['base']}/scans", params={"wait": "soon"}, headers=headers)
    assert bad_wait.status_code == 400 and "wait" in bad_wait.json()["error"]
    assert httpx.get(f"{host['base']}/scans/0123456789ab", headers=headers).status_code == 404
    malformed = httpx.get(f"{host['base']}/scans/not-a-run", headers=headers)
    assert malformed.status_code == 400 and "malformed" in malformed.json()["error"]


def _wait_for_run(host: dict, location: str, deadline_s: float = 90) -> dict:
    """Poll the status route until the run has finished (a deadline, not a sleep)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        run = httpx.get(f"{host['base'].removesuffix('/api')}{location}", headers={"x-functions-key": KEY},
                        timeout=30).json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.1)  # polling the status route with a deadline
    raise AssertionError(f"run {location} did not finish within {deadline_s} s")


def test_a_dry_run_in_the_request_then_two_queued_scans_at_once_then_audit(host):
    """POST answers 202 with Location; the queue trigger runs the sweep; the status route reports it.
    Two requests at once are both accepted, both run, and each task is created once."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"x-functions-key": KEY}
    preview = httpx.post(f"{host['base']}/scans", params={"wait": "true"}, json={"dry_run": True},
                         headers=headers, timeout=120)
    assert preview.status_code == 200, preview.text
    planned = preview.json()
    assert planned["dry_run"] is True and planned["planned"]["create"] == planned["findings"] > 0
    assert host["graph"].sandbox.plan_tasks(_plan_id()) == []

    def request(_: int) -> httpx.Response:
        return httpx.post(f"{host['base']}/scans", params={"code": KEY}, timeout=30)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(request, range(2)))
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    for answer in answers:
        body = answer.json()
        assert answer.headers["Location"] == f"/api/scans/{body['run_id']}" == body["status_url"]
        assert body["status"] == "queued"
    assert answers[0].json()["run_id"] != answers[1].json()["run_id"]

    runs = [_wait_for_run(host, a.headers["Location"]) for a in answers]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"], runs
    assert all(r["progress"]["products_read"] == planned["products_seen"] for r in runs)
    created = sum(r["report"]["done"].get("create", 0) for r in runs)
    tasks = host["graph"].sandbox.plan_tasks(_plan_id())
    assert created == len(tasks) == planned["findings"]  # no task twice, whichever run created it
    first = next(r for r in runs if r["report"]["done"].get("create"))
    assert first["progress"]["actions_done"] == first["report"]["done"]["create"]

    product = planned["actions"][0]["product"]
    history = httpx.get(f"{host['base']}/audit", params={"product": product}, headers=headers).json()
    assert [e["action"] for e in history["entries"]] == ["create"]
    assert history["entries"][0]["reason"].startswith("created task")
    assert history["entries"][0]["run_id"] in {r["run_id"] for r in runs}


def _plan_id() -> str:
    from sandbox.graph_state import PRODUCT_DATA_PLAN_ID

    return PRODUCT_DATA_PLAN_ID


def test_health_says_which_dependency_does_not_answer(host):
    httpx.post(f"{host['graph'].url}/_sandbox/faults",
               json={"endpoint": "graph.get_plan", "kind": "status", "status": 500, "count": 10})
    response = httpx.get(f"{host['base']}/health", params={"deep": "true"}, timeout=30)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"table_storage": True, "plytix": True, "rules": True, "graph": False,
                              "poison_queues": True, "rules_match_plytix": True}


def test_the_deployment_guide_smoke_block_works_as_written(host):
    """docs/DEPLOYMENT.md section 7's `# smoke test` block, run by bash with curl -f against the host."""
    from tests.test_deployment_guide import smoke_block

    product = host["plytix"].sandbox.products()[0]["id"]
    env = {"PATH": os.environ["PATH"], "URL": host["base"].removesuffix("/api"), "KEY": KEY, "PRODUCT": product}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", smoke_block()], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    assert '"status": "ok"' in result.stdout and f'"product": "{product}"' in result.stdout
    assert "200 text/html" in result.stdout  # the operations page


def test_write_back_routes_answer_bad_input_with_4xx_json(host):
    headers = {"x-functions-key": KEY}
    listed = httpx.get(f"{host['base']}/writebacks", params={"state": "failed"}, headers=headers, timeout=30)
    assert listed.status_code == 200 and listed.json()["writebacks"] == []
    assert httpx.get(f"{host['base']}/writebacks", params={"state": "lost"}, headers=headers).status_code == 400
    bad = httpx.post(f"{host['base']}/writebacks/not-an-id/retry", headers=headers)
    assert bad.status_code == 400 and "write-back id" in bad.json()["error"]
    missing = httpx.post(f"{host['base']}/writebacks/{'0' * 32}/retry", headers=headers)
    assert missing.status_code == 404
    health = httpx.get(f"{host['base']}/health", timeout=30).json()
    assert health["writebacks"] == {"failed": 0, "pending": 0}


def test_a_rule_naming_an_attribute_the_account_lacks_fails_health_and_refuses_scans(host, tmp_path):
    """`short_desc` is a well-formed label, so the file alone is valid; the account has no such attribute."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML.replace("short_description", "short_desc"))
    os.utime(rules, (time.time() + 5, time.time() + 5))  # a new mtime: the host reloads the file
    health = httpx.get(f"{host['base']}/health", params={"deep": "true"}, timeout=30)  # not the cached answer
    assert health.status_code == 503
    body = health.json()
    assert body["checks"]["rules_match_plytix"] is False and body["checks"]["rules"] is True
    assert f"{rules}:" in body["checks"]["rules_error"]
    assert "'short_desc'" in body["checks"]["rules_error"] and "did you mean 'short_description'" in body["checks"]["rules_error"]
    httpx.delete(f"{host['plytix'].url}/_sandbox/calls")
    scan = httpx.post(f"{host['base']}/scans", json={"dry_run": True}, headers={"x-functions-key": KEY}, timeout=60)
    assert scan.status_code == 503 and "short_desc" in scan.json()["error"]
    calls = httpx.get(f"{host['plytix'].url}/_sandbox/calls").json()["calls"]
    assert "plytix.search" not in calls, "the scan refused before reading any product"


def test_no_input_reaches_a_bare_500(host):
    """JSON nested past Python's recursion limit and an id longer than a Table key are the caller's fault
    (400 with a reason); nothing escapes to the host's body-less 500."""
    headers = {"x-functions-key": KEY}
    deep = httpx.post(f"{host['base']}/scans", content=b"[" * 100_000 + b"]" * 100_000, headers=headers, timeout=30)
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["error"]
    long_id = httpx.get(f"{host['base']}/audit", params={"product": "p" * 600}, headers=headers, timeout=30)
    assert long_id.status_code == 400 and "'product' cannot be an id" in long_id.json()["error"]
    slash = httpx.get(f"{host['base']}/audit", params={"product": "a/b"}, headers=headers, timeout=30)
    assert slash.status_code == 200 and slash.json()["entries"] == []  # keys are encoded, not refused


def test_a_failing_service_is_a_502_or_503_naming_it(host):
    """Plytix refusing the credentials during a scan run in the request is Plytix's failure, not ours:
    502 with JSON naming the service and the settings to check (never their values)."""
    headers = {"x-functions-key": KEY}
    httpx.post(f"{host['plytix'].url}/_sandbox/faults",
               json={"endpoint": "plytix.search", "kind": "status", "status": 401, "count": 100})
    refused = httpx.post(f"{host['base']}/scans", params={"wait": "true"}, json={"dry_run": True},
                         headers=headers, timeout=60)
    assert refused.status_code == 502, refused.text
    assert refused.json()["service"] == "plytix" and "PLYTIX_API_PASSWORD" in refused.json()["error"]
    assert "sandbox-api-password" not in refused.text
