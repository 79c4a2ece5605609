"""The pages' HTTP logic, free of azure.functions (the blueprint shared/blueprints/pages.py adapts it):
plain values in, a PageReply out. Bad input is a 4xx with a JSON reason, like every other route."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

from shared.api import poison_report
from shared.pages.render import PAGE_HEADERS
from shared.settings import SettingsError, get_settings


@dataclass(frozen=True)
class PageReply:
    status: int
    body: str
    mimetype: str
    headers: dict[str, str] = field(default_factory=dict)


def html(body: str) -> PageReply:
    return PageReply(200, body, "text/html", dict(PAGE_HEADERS))


def error(status: int, reason: str) -> PageReply:
    return PageReply(status, json.dumps({"error": reason}), "application/json")


def dashboard(params: Mapping[str, str]) -> PageReply:
    """GET /api/dashboard[?days=N]: the operations page (shared/pages/dashboard.py)."""
    from shared.pages import dashboard as page
    from shared.runtime import clients

    days = page.parse_days(params)
    if isinstance(days, str):
        return error(400, days)
    try:
        settings = get_settings()
    except SettingsError as exc:
        return error(503, str(exc))
    plytix, _, stores = clients(settings)
    data = page.collect(stores, poison=lambda: poison_report(settings).counts, budget=plytix.rate_budget(),
                        plytix_stats=plytix.stats.snapshot(), environment=settings.ENVIRONMENT_NAME, days=days)
    return html(page.page(data))
