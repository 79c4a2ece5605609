"""On-demand scans (shared.ondemand) against Azurite and the sandboxes: requests, the worker's retries
and duplicate deliveries, progress, and the stored report's size. The HTTP and queue path end to end is
in tests/test_function_app.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from shared import ondemand
from shared.ondemand import BadScanRequest, ScanRequest, parse_request
from shared.plytix.errors import AuthError
from shared.store import RunStatus, ScanRun
from shared.store.runs import MAX_STORED_ACTIONS, stored_report
from tests.scan_world import RULE_ID


def test_requests_parse_and_bad_ones_say_why() -> None:
    assert parse_request(b"", {}) == ScanRequest()
    assert parse_request(b'{"dry_run": true, "rules": ["a"]}', {"wait": "1"}) == ScanRequest(True, ["a"], True)
    assert parse_request(b"", {"dry_run": "true"}).dry_run is True
    for body, params, reason in [(b"{nope", {}, "not valid JSON"), (b"[]", {}, "JSON object"),
                                 (b'{"dryrun": true}', {}, "dryrun"), (b'{"dry_run": "yes"}', {}, "dry_run"),
                                 (b'{"rules": "a"}', {}, "rules"), (b"", {"wait": "later"}, "wait")]:
        with pytest.raises(BadScanRequest, match=reason):
            parse_request(body, params)


def test_unknown_rules_are_refused_before_anything_is_queued(world: dict) -> None:
    deps = world["deps"]
    with pytest.raises(BadScanRequest, match="nope"):
        ondemand.queue_run(deps, ScanRequest(rules=["nope"]))
    assert deps.stores.stats.count("runs", "create") == 0


def test_a_queued_run_is_worked_once_and_a_second_delivery_is_only_acknowledged(world: dict) -> None:
    deps = world["deps"]
    run, message = ondemand.queue_run(deps, ScanRequest(rules=[RULE_ID]))
    assert json.loads(message) == {"run_id": run.run_id}
    assert deps.stores.runs.get(run.run_id).status is RunStatus.queued

    ondemand.work(deps, message.encode())
    done = deps.stores.runs.get(run.run_id)
    assert done.status is RunStatus.succeeded and done.attempts == 1 and done.finished >= done.started
    assert done.report["run_id"] == run.run_id and done.report["done"]["create"] == done.progress["actions_done"] > 0
    assert done.progress["products_read"] == done.report["products_seen"] > 0

    searches = world["plytix"].app.faults.calls["plytix.search"]
    ondemand.work(deps, message.encode())  # the host delivers at least once
    assert world["plytix"].app.faults.calls["plytix.search"] == searches
    assert deps.stores.runs.get(run.run_id).etag == done.etag


def test_a_failed_try_is_recorded_raised_for_the_host_to_retry_and_the_retry_finishes_it(world: dict) -> None:
    deps = world["deps"]
    run, message = ondemand.queue_run(deps, ScanRequest(dry_run=True))
    world["plytix"].sandbox.app.faults.add("plytix.search", {"kind": "status", "status": 401, "count": 10})
    with pytest.raises(AuthError):
        ondemand.work(deps, message.encode(), dequeue_count=1)
    failed = deps.stores.runs.get(run.run_id)
    assert failed.status is RunStatus.retrying and failed.attempts == 1 and failed.finished is None
    assert "401" in failed.error and "sandbox-api-password" not in failed.error

    world["plytix"].sandbox.app.faults.clear()
    ondemand.work(deps, message.encode(), dequeue_count=2)
    retried = deps.stores.runs.get(run.run_id)
    assert (retried.status, retried.attempts, retried.error) == (RunStatus.succeeded, 2, None)
    assert retried.to_json()["report"]["dry_run"] is True


def test_the_last_try_leaves_the_run_failed(world: dict) -> None:
    deps = world["deps"]
    run, message = ondemand.queue_run(deps, ScanRequest(dry_run=True))
    world["plytix"].sandbox.app.faults.add("plytix.search", {"kind": "status", "status": 401, "count": 10})
    with pytest.raises(AuthError):
        ondemand.work(deps, message.encode(), dequeue_count=ondemand.MAX_TRIES)
    failed = deps.stores.runs.get(run.run_id)
    assert failed.status is RunStatus.failed and failed.finished is not None
    assert failed.to_json()["error"] == failed.error


def test_the_worker_counts_tries_as_the_host_does() -> None:
    from devhost.host_config import HostOptions
    from tests.conftest import ROOT

    assert HostOptions.from_host_json(ROOT / "host.json").max_dequeue_count == ondemand.MAX_TRIES


def test_bad_messages_fail_so_they_end_in_the_poison_queue(world: dict) -> None:
    with pytest.raises(ValueError, match="run_id"):
        ondemand.work(world["deps"], b"not json")
    with pytest.raises(LookupError, match="0123456789ab"):
        ondemand.work(world["deps"], b'{"run_id": "0123456789ab"}')


def test_progress_is_stored_while_the_scan_runs(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = world["deps"]
    monkeypatch.setattr(ondemand, "PROGRESS_INTERVAL_SECONDS", 0.0)
    seen: list[dict] = []
    real_save = deps.stores.runs.save

    def watching_save(run: ScanRun) -> ScanRun:
        seen.append(dict(run.progress))
        return real_save(run)

    monkeypatch.setattr(deps.stores.runs, "save", watching_save)
    report = ondemand.run_now(deps, ScanRequest(dry_run=True))
    read = [p["products_read"] for p in seen if p]
    assert len(read) > 3 and read == sorted(read) and read[-1] == report.products_seen


def test_a_large_report_is_stored_with_its_counts_and_the_first_actions(world: dict) -> None:
    deps = world["deps"]
    action = {"action": "create", "rule": RULE_ID, "product": "P" * 24, "title": "Complete core content: " + "S" * 40,
              "reason": "missing: " + ", ".join(["description_en", "description_de", "images"] * 4)}
    report = {"run_id": "0123456789ab", "planned": {"create": 1500}, "actions": [action] * 1500}
    kept = stored_report(report)
    assert len(kept["actions"]) == MAX_STORED_ACTIONS and kept["actions_truncated"] == 500
    assert kept["planned"] == {"create": 1500}
    run = deps.stores.runs.create(ScanRun(run_id="0123456789ab", created=deps.clock()))
    saved = deps.stores.runs.save(replace(run, status=RunStatus.succeeded, report=kept))  # fits in one entity
    assert deps.stores.runs.get(saved.run_id).report["actions_truncated"] == 500
