"""Job 4's push path: `POST /api/planner/notifications` (HTTP, answers 202 at once) and the worker that
re-reads the notified tasks from Graph (Storage queue `<QUEUE_PREFIX>-planner-notifications`; after 5
failed tries the host moves a message to its `-poison` queue, which /api/health reports: shared/queues.py).
Adapters only: the protocol and the work are shared/notifications.py."""

from __future__ import annotations

import azure.functions as func

from shared.blueprints.guard import json_errors, json_response
from shared.notifications import receive, work
from shared.observability import get_logger
from shared.queues import PLANNER_NOTIFICATIONS, binding
from shared.runtime import watcher_deps
from shared.settings import get_settings

bp = func.Blueprint()
log = get_logger(__name__)


@bp.function_name("planner_notifications")
@bp.route(route="planner/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="queued", queue_name=binding(PLANNER_NOTIFICATIONS), connection="AzureWebJobsStorage")
@json_errors
def planner_notifications(req: func.HttpRequest, queued: func.Out[list[str]]) -> func.HttpResponse:
    # Anonymous on purpose: Graph's validation request carries no key; each notification carries the
    # clientState, which is the credential (compared in constant time).
    secret = get_settings().PLANNER_NOTIFICATION_CLIENT_STATE
    answer = receive(req.get_body(), dict(req.params), secret.get_secret_value() if secret else None)
    if answer.messages:
        queued.set(answer.messages)  # sent by the host once this function returns
    if isinstance(answer.body, str):  # the validation echo: Graph wants the bare token as text/plain
        return func.HttpResponse(answer.body, status_code=answer.status, mimetype="text/plain")
    return json_response(answer.status, answer.body)


@bp.function_name("planner_notification_worker")
@bp.queue_trigger(arg_name="msg", queue_name=binding(PLANNER_NOTIFICATIONS), connection="AzureWebJobsStorage")
def planner_notification_worker(msg: func.QueueMessage) -> None:
    report = work(watcher_deps(), msg.get_body())
    log.info("planner notification %s: %d of our tasks, seen %s, write-backs %s, %d Graph calls", report.run_id,
             report.links, dict(report.seen), dict(report.writebacks), report.graph_calls)
