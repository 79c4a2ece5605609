"""HTTP triggers: health and the OpenAPI document (anonymous), scans, scan status, audit and the write-back outbox (function key).
Adapters only: see shared/api.py and shared/writeback/admin.py."""

from __future__ import annotations

import secrets

import azure.functions as func

from shared import api, queues
from shared.blueprints.guard import json_errors, json_response
from shared.runtime import watcher_deps
from shared.writeback import Outbox, writeback_context
from shared.writeback.admin import list_writebacks, retry_writeback

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@json_errors
def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(*api.health(dict(req.params)))


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@json_errors
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, api.openapi_document())


@bp.function_name("scans")
@bp.route(route="scans", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="queued", queue_name=queues.binding(queues.SCANS), connection="AzureWebJobsStorage")
@json_errors
def scans(req: func.HttpRequest, queued: func.Out[str]) -> func.HttpResponse:
    start = api.start_scan(req.get_body(), dict(req.params))
    if start.message is not None:
        queued.set(start.message)  # sent by the host once this function returns (scan_worker runs it)
    return json_response(start.status, start.body, start.headers)


@bp.function_name("scan_status")
@bp.route(route="scans/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def scan_status(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(*api.scan_status(req.route_params.get("run_id", "")))


@bp.function_name("audit")
@bp.route(route="audit", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def audit(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(*api.audit(dict(req.params)))


@bp.function_name("writebacks")
@bp.route(route="writebacks", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def writebacks(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(*list_writebacks(Outbox(watcher_deps().stores.table("writebacks")), dict(req.params)))


@bp.function_name("writeback_retry")
@bp.route(route="writebacks/{id}/retry", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def writeback_retry(req: func.HttpRequest) -> func.HttpResponse:
    ctx = writeback_context(watcher_deps(), run_id=secrets.token_hex(6))
    return json_response(*retry_writeback(ctx, req.route_params.get("id", "")))
