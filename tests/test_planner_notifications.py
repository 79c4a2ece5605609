"""The push path of job 4 end to end: `POST /api/planner/notifications` on the local function host (a
separate process, like the worker), the queue it fills (a real Azurite queue and queue trigger), the
task re-read from the Graph stand-in, and the write-back to the Plytix stand-in.

Graph's protocol, as Microsoft documents it ("Receive change notifications through webhooks",
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks): a validation request is a POST
with `?validationToken=`, answered 200 text/plain with the URL-decoded token; each notification carries
the subscription's clientState, which the receiver must check before acting on it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from shared.notifications import work
from shared.writeback import WritebackState
from tests.devhost_process import running_devhost
from tests.scan_world import devhost_env
from tests.test_channel_webhook import poll
from tests.test_function_app import HOST_SETTINGS
from tests.writeback_world import WritebackWorld, writeback_world

CLIENT_STATE = "planner-notification-test-state"


@pytest.fixture
def push(world: dict, azurite: str, table_prefix: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    wb = writeback_world(world, tmp_path)
    env = devhost_env(world["plytix"].url, world["graph"].url, azurite, table_prefix, Path(wb.settings.RULES_FILE),
                      **HOST_SETTINGS, ENVIRONMENT_NAME="test", PLANNER_NOTIFICATION_CLIENT_STATE=CLIENT_STATE)
    queue = QueueClient.from_connection_string(azurite, f"{table_prefix}-planner-notifications")
    with running_devhost(env, tmp_path) as devhost:
        yield {"url": f"{devhost.base}/planner/notifications", "wb": wb, "queue": queue}
    assert CLIENT_STATE not in devhost.output(), "the clientState is in the host log"


def graph_notification(task_id: str, client_state: str = CLIENT_STATE) -> dict[str, Any]:
    """One item as Graph posts it (change-notifications-delivery-webhooks, "Notification payload")."""
    return {"subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "changeType": "updated",
            "clientState": client_state, "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "subscriptionExpirationDateTime": "2026-12-05T11:00:00.0000000Z",
            "resource": f"planner/tasks/{task_id}",
            "resourceData": {"@odata.type": "#microsoft.graph.plannerTask", "@odata.id": f"planner/tasks/{task_id}",
                             "id": task_id}}


def queue_drained(queue: QueueClient) -> bool:
    """Every queued notification was handled: a message is counted until its worker deletes it."""
    try:
        return queue.get_queue_properties().approximate_message_count == 0
    except ResourceNotFoundError:  # the host creates the queue with the first message
        return True


def test_validation_echoes_the_decoded_token_as_plain_text(push) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 7f105c7d"
    answer = httpx.post(f"{push['url']}?validationToken={quote(token)}", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == token


def test_a_wrong_or_missing_client_state_is_401_and_its_items_are_ignored(push) -> None:
    wb: WritebackWorld = push["wb"]
    first, second = wb.open_links()[:2]
    wb.complete(first)
    wb.complete(second)
    wrong = httpx.post(push["url"], json={"value": [graph_notification(first.task_id, "guessed")]}, timeout=30)
    missing = httpx.post(push["url"], json={"taskIds": [first.task_id]}, timeout=30)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "clientState" in wrong.json()["error"] and "clientState" in missing.json()["error"]
    # a batch with one good and one bad item: 401 for the bad one, the good one is still acted on
    mixed = httpx.post(push["url"], json={"value": [graph_notification(second.task_id),
                                                    graph_notification(first.task_id, "")]}, timeout=30)
    assert mixed.status_code == 401 and mixed.json()["accepted"] == 1
    poll("the good item's write-back", lambda: wb.stage(second.product_id) == "ready_for_syndication")
    poll("the queue to drain", lambda: queue_drained(push["queue"]))
    assert wb.stage(first.product_id) == "approved" and wb.stage_writes(first.product_id) == []


def test_bad_input_gets_4xx_with_a_json_reason(push) -> None:
    url = push["url"]
    cases = [
        (httpx.post(url, content=b"{not json"), 400, "not valid JSON"),
        (httpx.post(url, content=b"[1, 2]"), 400, "expected Graph's"),
        (httpx.post(url, content=b" " * (1024 * 1024 + 1)), 413, "1048576"),
        (httpx.post(url, json={"clientState": CLIENT_STATE, "taskIds": "x" * 28}), 400, "taskIds must be a list"),
        (httpx.post(url, json={"clientState": CLIENT_STATE, "taskIds": ["A" * 27 + f"{i}" for i in range(10)] * 101}),
         400, "at most 1000"),
        (httpx.post(url, json={"clientState": CLIENT_STATE, "taskIds": ["../../users/me", 7]}), 400,
         "not Planner task ids"),
    ]
    for answer, status, reason in cases:
        assert answer.status_code == status, (reason, answer.text)
        assert answer.headers["content-type"].startswith("application/json")
        assert reason in answer.json()["error"], answer.text
    assert queue_drained(push["queue"])  # nothing was queued


def test_the_payload_is_not_trusted_a_task_still_open_moves_nothing(push) -> None:
    wb: WritebackWorld = push["wb"]
    link = wb.open_links()[0]
    gets = wb.graph.app.faults.calls["graph.get_task"]
    answer = httpx.post(push["url"], json={"clientState": CLIENT_STATE, "taskIds": [link.task_id]}, timeout=30)
    assert answer.status_code == 202 and answer.json() == {"accepted": 1}
    poll("the worker to re-read the task", lambda: wb.graph.app.faults.calls["graph.get_task"] > gets)
    poll("the queue to drain", lambda: queue_drained(push["queue"]))
    assert wb.stage_writes(link.product_id) == [] and list(wb.outbox.list()) == []


def test_a_notification_delivered_five_times_at_once_leads_to_one_write(push) -> None:
    wb: WritebackWorld = push["wb"]
    link = wb.open_links()[0]
    wb.complete(link)
    bodies = [{"value": [graph_notification(link.task_id)]}] * 3 + [
        {"clientState": CLIENT_STATE, "taskIds": [link.task_id]}] * 2  # Power Automate's relay form too
    start = threading.Barrier(len(bodies))
    answers: list[httpx.Response] = []

    def deliver(body: dict[str, Any]) -> None:
        start.wait(timeout=30)
        answers.append(httpx.post(push["url"], json=body, timeout=60))

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [a.status_code for a in answers] == [202] * 5
    assert all(a.json() == {"accepted": 1} for a in answers)
    poll("the write-back", lambda: wb.stage(link.product_id) == "ready_for_syndication")
    poll("all five notifications to be handled", lambda: queue_drained(push["queue"]))
    assert len(wb.stage_writes(link.product_id)) == 1
    assert [r.state for r in wb.outbox.list()] == [WritebackState.done]


def test_a_message_the_worker_cannot_handle_fails_so_the_host_retries_then_poisons_it(world: dict,
                                                                                      tmp_path: Path) -> None:
    """The host's retries and poison queue are devhost's and health's own tests; here: the worker fails."""
    wb = writeback_world(world, tmp_path)
    link = wb.open_links()[0]
    wb.complete(link)
    with pytest.raises(ValueError, match="taskIds"):
        work(wb.watcher(), b'{"taskIds": ["../users"]}')
    wb.graph.app.faults.add("graph.get_task", {"kind": "status", "status": 500, "count": 1})
    with pytest.raises(RuntimeError, match="1 task"):
        work(wb.watcher(), json.dumps({"taskIds": [link.task_id]}).encode())
    assert wb.stage_writes(link.product_id) == []
    report = work(wb.watcher(), json.dumps({"taskIds": [link.task_id]}).encode())  # the host's next try
    assert report.writebacks == {"done": 1} and wb.stage(link.product_id) == "ready_for_syndication"
