"""HTTP triggers: health (anonymous), scans and audit (function key). Adapters only: see shared/api.py."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared import api

bp = func.Blueprint()


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return _json(*api.health(dict(req.params)))


@bp.function_name("scans")
@bp.route(route="scans", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def scans(req: func.HttpRequest) -> func.HttpResponse:
    return _json(*api.start_scan(req.get_body(), dict(req.params)))


@bp.function_name("audit")
@bp.route(route="audit", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def audit(req: func.HttpRequest) -> func.HttpResponse:
    return _json(*api.audit(dict(req.params)))
