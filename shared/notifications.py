"""POST /api/planner/notifications: Graph's change-notification protocol, for teams that relay events.

Graph itself sends NO change notifications for Planner (API_FACTS.md: `POST /subscriptions` cannot watch
any Planner resource). This endpoint exists for relays: a Power Automate flow ("When a task is
completed" -> HTTP) posting `{"clientState": ..., "taskIds": [...]}`, or any bridge that speaks Graph's
webhook format. The completion watcher stays the source of truth, so a lost notification costs at most
one watcher period.

The protocol, as Microsoft documents it ("Receive change notifications through webhooks",
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks):
- validation: a POST with `?validationToken=...` is answered 200 `text/plain` with the (URL-decoded)
  token, within 10 seconds;
- notifications: `{"value": [{"clientState", "resource", "resourceData": {"id"}, ...}]}`; each item's
  clientState must equal the secret given when subscribing. It is compared in constant time
  (hmac.compare_digest) with PLANNER_NOTIFICATION_CLIENT_STATE; an item with a wrong or missing one is
  ignored and the answer is 401;
- the answer is 202 within 3 seconds, with the work done from a queue (any 2xx counts as delivered;
  other answers make Graph retry for up to 4 hours).

Nothing in the payload is trusted but the task ids: the queue worker re-reads each task from Graph
(shared.completion_watcher.handle_task_ids). Bad input gets a 4xx with a JSON reason, never a 500.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from shared.completion_watcher import WatcherDeps, WatcherReport, handle_task_ids
from shared.http_params import json_body

MAX_BODY_BYTES = 1024 * 1024
MAX_TASK_IDS = 1000
IDS_PER_MESSAGE = 200  # a queue message holds at most 64 KiB; 200 ids stay far below it after base64
# Planner ids are 28 characters (plannertask.md; e.g. "01gzSlKkIUSUl6DF_EilrmQAKDhh"), URL-safe base64.
PLANNER_ID = re.compile(r"^[A-Za-z0-9_-]{28}$")
_TASK_RESOURCE = re.compile(r"planner/tasks/(?P<id>[^/?]+)")


@dataclass
class Answer:
    """What the HTTP adapter sends: a status, a JSON body or plain text, and queue messages to add."""

    status: int
    body: Union[dict[str, Any], str]
    messages: list[str] = field(default_factory=list)


def _error(status: int, message: str, **extra: Any) -> Answer:
    return Answer(status, {"error": message, **extra})


def receive(body: bytes, params: Mapping[str, str], client_state: Optional[str]) -> Answer:
    """Answer one POST; the task ids it accepts come back as queue messages (JSON {"taskIds": [...]})."""
    token = params.get("validationToken")
    if token is not None:
        return Answer(200, token)  # the host has URL-decoded the query already
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"the body is over {MAX_BODY_BYTES} bytes")
    if not client_state:
        return _error(503, "notifications are not configured: set PLANNER_NOTIFICATION_CLIENT_STATE")
    try:
        payload = json_body(body) if body.strip() else None
    except ValueError as exc:
        return _error(400, f"the body is not valid JSON: {exc}")
    if isinstance(payload, dict) and isinstance(payload.get("value"), list):
        ids, rejected = _from_notifications(payload["value"], client_state)
    elif isinstance(payload, dict) and "taskIds" in payload:
        if not isinstance(payload["taskIds"], list):
            return _error(400, "taskIds must be a list of Planner task ids")
        trusted = _state_ok(payload.get("clientState"), client_state)
        ids, rejected = (list(payload["taskIds"]), 0) if trusted else ([], 1)
    else:
        return _error(400, "expected Graph's {\"value\": [...]} or {\"clientState\": ..., \"taskIds\": [...]}")
    if len(ids) > MAX_TASK_IDS:
        return _error(400, f"{len(ids)} task ids; at most {MAX_TASK_IDS} per request")
    bad = [i for i in ids if not isinstance(i, str) or not PLANNER_ID.match(i)]
    if bad:
        return _error(400, f"{len(bad)} id(s) are not Planner task ids (28 characters of letters, digits, "
                           "'-' and '_')", examples=[str(i)[:40] for i in bad[:5]])
    unique = list(dict.fromkeys(ids))
    messages = [json.dumps({"taskIds": unique[i:i + IDS_PER_MESSAGE]})
                for i in range(0, len(unique), IDS_PER_MESSAGE)]
    if rejected:
        return Answer(401, {"error": f"{rejected} notification(s) had a wrong or missing clientState and were "
                                     "ignored", "accepted": len(unique)}, messages)
    return Answer(202, {"accepted": len(unique)}, messages)


def _state_ok(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _from_notifications(items: list[Any], client_state: str) -> tuple[list[Any], int]:
    """Task ids of the items whose clientState matches; the count of those ignored for it."""
    ids: list[Any] = []
    rejected = 0
    for item in items:
        if not isinstance(item, dict) or not _state_ok(item.get("clientState"), client_state):
            rejected += 1
            continue
        data: dict[str, Any] = item["resourceData"] if isinstance(item.get("resourceData"), dict) else {}
        found = data.get("id")
        if found is None and isinstance(item.get("resource"), str):
            match = _TASK_RESOURCE.search(item["resource"])
            found = match.group("id") if match else item["resource"]
        ids.append(found)
    return ids, rejected


def task_ids_of(message: str) -> list[str]:
    """The ids in one queue message (written by `receive`; anything else is refused)."""
    payload = json.loads(message)
    ids = payload.get("taskIds") if isinstance(payload, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and PLANNER_ID.match(i) for i in ids):
        raise ValueError("a notification message must be {\"taskIds\": [Planner task ids]}")
    return ids


def work(deps: WatcherDeps, message: bytes) -> WatcherReport:
    """The queue worker: act on the message's tasks as a watcher run would. Raises when the message is
    malformed or a task could not be read from Graph, so the host tries the message again and, after its
    last try, moves it to the poison queue that /api/health reports: nothing is dropped silently."""
    report = handle_task_ids(deps, task_ids_of(message.decode("utf-8")))
    if report.errors:
        raise RuntimeError(f"{len(report.errors)} task(s) could not be handled: {report.errors[0]}")
    return report
