"""What an HTTP caller is told when a service behind us fails: 502 or 503 with JSON naming the service and
what to check, instead of the Functions host's bare 500 (issue 7: "every upstream failure gets a 502 or
503 with JSON that names the service and what to check").

502 means the service answered, but not usefully (refused credentials, a 5xx past our retries, an error
answer); 503 means it could not be reached or asked us to wait, or our own configuration is incomplete,
so trying again later may work. The messages name settings, never their values: they reach the caller.
Kept free of azure.functions so the CLI and tests can use the same mapping.
"""

from __future__ import annotations

from typing import Any, Optional

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from shared.planner.errors import PlannerError, PlannerThrottled
from shared.plytix.errors import AuthError, PlytixError, RateLimited, Unavailable
from shared.settings import SettingsError

Answer = tuple[int, dict[str, Any]]


def upstream_answer(exc: BaseException) -> Optional[Answer]:
    """The 502/503 answer for a failure of Plytix, Graph, Table/Queue Storage or the configuration; None
    for anything else (a bug of ours, which stays a logged 500)."""
    if isinstance(exc, PlytixError):
        return _plytix(exc)
    if isinstance(exc, PlannerError):
        return _graph(exc)
    if isinstance(exc, SettingsError):
        return _answer(503, "configuration", f"the app settings are incomplete: {exc}")
    if isinstance(exc, ClientAuthenticationError):
        return _answer(502, "microsoft-entra", "a Microsoft token was refused: check the managed identity or "
                                               "GRAPH_TENANT_ID / GRAPH_CLIENT_ID / GRAPH_CLIENT_SECRET, and "
                                               "the identity's role on the storage account")
    if isinstance(exc, ResourceNotFoundError) and "TableNotFound" in str(getattr(exc, "error_code", "") or exc):
        return _answer(503, "table-storage", "a table is missing (the app creates its tables when a "
                                             "process first uses them): restart the function app")
    if isinstance(exc, ServiceRequestError):
        return _answer(503, "storage", "Azure Storage could not be reached: check AzureWebJobsStorage")
    if isinstance(exc, HttpResponseError):
        return _answer(503, "storage", f"Azure Storage answered {exc.status_code}: check AzureWebJobsStorage "
                                       "and the identity's data roles on the account")
    return None


def _plytix(exc: PlytixError) -> Answer:
    if isinstance(exc, AuthError):
        return _answer(502, "plytix", "Plytix refused the credentials: check PLYTIX_API_KEY and "
                                      "PLYTIX_API_PASSWORD")
    if isinstance(exc, RateLimited):
        return _answer(503, "plytix", "Plytix's rate limit is used up: try again later, or lower "
                                      "PLYTIX_RATE_PER_10S / PLYTIX_RATE_PER_HOUR to your plan's limits")
    if isinstance(exc, Unavailable):
        return _answer(503, "plytix", "Plytix did not answer after our retries: check PLYTIX_BASE_URL and "
                                      "Plytix's status")
    return _answer(502, "plytix", f"Plytix answered an error: {exc}")


def _graph(exc: PlannerError) -> Answer:
    if isinstance(exc, PlannerThrottled) or exc.status is None:
        return _answer(503, "microsoft-graph", f"Microsoft Graph could not be reached or is throttling: "
                                               f"check GRAPH_BASE_URL ({exc.code})")
    if exc.status in (401, 403):
        return _answer(502, "microsoft-graph", "Microsoft Graph refused the app: check its Tasks.ReadWrite.All "
                                               "and User.Read.All application permissions (docs/DEPLOYMENT.md) "
                                               f"and the GRAPH_* settings ({exc.code})")
    return _answer(502, "microsoft-graph", f"Microsoft Graph answered an error: {exc}")


def _answer(status: int, service: str, message: str) -> Answer:
    return status, {"error": message, "service": service}
