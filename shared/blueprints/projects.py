"""Catalog projects (job 7), function key: GET /api/projects, /api/projects/{id} (JSON) and
/api/projects/{id}/report (HTML). Adapters only: see shared/projects/replies.py."""

from __future__ import annotations

import azure.functions as func

from shared.blueprints.guard import json_errors, json_response
from shared.blueprints.pages import page_response
from shared.projects import replies

bp = func.Blueprint()


@bp.function_name("projects")
@bp.route(route="projects", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def projects(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(*replies.list_projects())


@bp.function_name("project")
@bp.route(route="projects/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def project(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(*replies.project(req.route_params.get("id", "")))


@bp.function_name("project_report")
@bp.route(route="projects/{id}/report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@json_errors
def project_report(req: func.HttpRequest) -> func.HttpResponse:
    return page_response(replies.project_report(req.route_params.get("id", "")))
