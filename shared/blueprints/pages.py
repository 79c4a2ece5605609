"""HTML pages (function key): the operations dashboard. Adapters only: see shared/pages/."""

from __future__ import annotations

import azure.functions as func

from shared.blueprints.guard import json_errors
from shared.pages import replies
from shared.pages.replies import PageReply

bp = func.Blueprint()


def page_response(reply: PageReply) -> func.HttpResponse:
    return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers, mimetype=reply.mimetype,
                             charset="utf-8")


@bp.function_name("dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    return page_response(replies.dashboard(dict(req.params)))
