"""GET /api/projects, /api/projects/{id} (JSON) and /api/projects/{id}/report (HTML): the logic, free of
azure.functions (shared/blueprints/projects.py adapts it). Everything comes from the `projects` table
(shared/projects/summary.py): no Plytix or Graph call."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Optional

from shared.api import Reply
from shared.pages.replies import PageReply, error, html
from shared.projects.summary import ProjectSummary, project_rules, summarize
from shared.rules import RulesError, build_rules
from shared.settings import SettingsError, get_settings


def list_projects(clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> Reply:
    found = _summaries(None, clock)
    if isinstance(found, tuple):
        return found
    return 200, {"projects": [s.to_json(detail=False) for s in found]}


def project(project_id: str, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> Reply:
    found = _summaries(project_id, clock)
    if isinstance(found, tuple):
        return found
    return 200, found[0].to_json(detail=True)


def project_report(project_id: str, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> PageReply:
    from shared.pages.project_report import page

    found = _summaries(project_id, clock)
    if isinstance(found, tuple):
        return error(found[0], found[1]["error"])
    return html(page(found[0], clock()))


def _summaries(project_id: Optional[str],
               clock: Callable[[], datetime]) -> list[ProjectSummary] | tuple[int, dict[str, str]]:
    """The projects of the current rules file (one, by id), or the error reply."""
    from shared.runtime import clients, current_rules

    try:
        settings = get_settings()
        rules = project_rules(build_rules(current_rules(settings)))
    except SettingsError as exc:
        return 503, {"error": str(exc)}
    except RulesError as exc:
        return 503, {"error": f"the rules file is invalid: {exc}"}
    if project_id is not None:
        rules = [rule for rule in rules if rule.id == project_id]
        if not rules:
            return 404, {"error": f"no catalog_project rule with id {project_id!r} in the rules file"}
    _, _, stores = clients(settings)
    today = clock().date()
    return [summarize(rule, stores, today, settings.product_url, settings.task_url) for rule in rules]
