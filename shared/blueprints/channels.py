"""Job 5's triggers: Plytix's channel webhook (HTTP, answers at once) and the feed check it queues
(Storage queue `<QUEUE_PREFIX>-channel-checks`; after 5 failed tries the host moves a message to its
`-poison` queue, which /api/health reports: shared/queues.py). Adapters only: see shared/channels/."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.blueprints.guard import json_errors, json_response
from shared.channels.check import run_queued_check
from shared.channels.webhook import handle_delivery
from shared.queues import CHANNEL_CHECKS, binding
from shared.rules import build_rules
from shared.runtime import clients, current_rules, scan_deps
from shared.settings import get_settings

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("channel_webhook")
@bp.route(route="plytix/channel-webhook", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="checks", queue_name=binding(CHANNEL_CHECKS), connection="AzureWebJobsStorage")
@json_errors
def channel_webhook(req: func.HttpRequest, checks: func.Out[str]) -> func.HttpResponse:
    settings = get_settings()
    status, body, message = handle_delivery(
        req.get_body(), dict(req.headers), settings=settings,
        rules=lambda: build_rules(current_rules(settings)), stores=lambda: clients(settings)[2])
    if message is not None:
        checks.set(message)
    return json_response(status, body)


@bp.function_name("channel_feed_check")
@bp.queue_trigger(arg_name="msg", queue_name=binding(CHANNEL_CHECKS), connection="AzureWebJobsStorage")
def channel_feed_check(msg: func.QueueMessage) -> None:
    report = run_queued_check(scan_deps(), msg.get_body().decode("utf-8"))
    log.info("channel feed check %s: %s, %d rows, %d failing, %d bad", report.channel_name, report.outcome,
             report.rows, report.failing_rows, report.bad_rows)
