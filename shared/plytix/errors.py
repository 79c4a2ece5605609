"""Typed errors for Plytix API calls.

Why typed: callers decide different things for different failures (a 428 means "split the query by time
window", a 404 means "the product is gone, close its tasks", a RateLimited means "checkpoint and continue
in the next invocation"). Every error carries the API's own message and per-field errors, never a
credential or a token: the client scrubs them before an error is built.
"""

from __future__ import annotations

from typing import Any, Optional


class PlytixError(Exception):
    """An API call failed. `status` is the HTTP status (None when no response arrived)."""

    def __init__(self, message: str, *, status: Optional[int] = None, endpoint: str = "",
                 errors: Optional[list[dict[str, Any]]] = None) -> None:
        self.message = message
        self.status = status
        self.endpoint = endpoint
        self.errors = errors or []
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"Plytix {self.endpoint}" if self.endpoint else "Plytix"
        status = f" HTTP {self.status}" if self.status is not None else ""
        details = "; ".join(f"{e.get('field')}: {e.get('msg')}" for e in self.errors if isinstance(e, dict))
        return f"{where}{status}: {self.message}" + (f" ({details})" if details else "")


class NotFound(PlytixError):
    """404: the product (or other resource) does not exist."""


class ValidationFailed(PlytixError):
    """422: the request was well formed but rejected (unknown field or label, bad status, page_size...)."""


class Conflict(PlytixError):
    """409: e.g. a product with the same SKU already exists."""


class OrderTooBroad(PlytixError):
    """428: `order` was set on a query matching more than 10,000 products. Split the query (e.g. by a
    `modified` window) or drop the order: the client never does either on its own."""


class AuthError(PlytixError):
    """401/403 after one token refresh, or the credentials were refused."""


class RateLimited(PlytixError):
    """429 after the retries were used up (or Retry-After asked for a longer wait than allowed).
    `retry_after` is the server's hint in seconds, when it sent one."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class Unavailable(PlytixError):
    """5xx, timeouts or dropped connections after the retries were used up. `outcome_unknown` is True
    when a non-idempotent request (create) may have been carried out before the failure."""

    def __init__(self, message: str, *, outcome_unknown: bool = False, **kwargs: Any) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, **kwargs)


_BY_STATUS: dict[int, type[PlytixError]] = {401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict,
                                            422: ValidationFailed, 428: OrderTooBroad, 429: RateLimited}


def error_from_response(status: int, body: Any, endpoint: str, *,
                        retry_after: Optional[float] = None) -> PlytixError:
    """Build the typed error for an error response. Plytix v1 answers {"error": {"msg", "errors"}}; the
    token endpoint's documented 401 is a bare {"msg"}; some endpoints use {"detail"} (API_FACTS.md)."""
    message, errors = _message(body)
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status=status, endpoint=endpoint, errors=errors)
    if status >= 500:
        return Unavailable(message, status=status, endpoint=endpoint, errors=errors)
    return _BY_STATUS.get(status, PlytixError)(message, status=status, endpoint=endpoint, errors=errors)


def _message(body: Any) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(body, dict):
        inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        message = inner.get("msg") or inner.get("detail") or inner.get("message")
        errors: list[Any] = inner["errors"] if isinstance(inner.get("errors"), list) else []
        if message:
            return str(message).strip(), [e for e in errors if isinstance(e, dict)]
    return "no error message in the response", []
