"""One place where every HTTP trigger's failures become JSON answers.

Without it an exception escaping a handler reaches the Functions host, which answers a bare 500 with no
body. A service behind us failing (Plytix, Graph, Storage, incomplete settings) is not our bug: it is
answered 502/503 with JSON naming the service and what to check (shared/upstream_errors.py). Anything
else is a bug of ours: logged with its traceback, answered 500 with a JSON reason that discloses nothing.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Optional

import azure.functions as func

from shared.observability import get_logger
from shared.upstream_errors import upstream_answer

log = get_logger(__name__)
Handler = Callable[..., func.HttpResponse]


def json_response(status: int, body: dict[str, Any],
                  headers: Optional[dict[str, str]] = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, headers=headers, mimetype="application/json")


def json_errors(handler: Handler) -> Handler:
    """Wrap an HTTP trigger (put it innermost, under the binding decorators): the host reads the
    parameters through functools.wraps, so bindings and type hints stay those of `handler`."""

    @functools.wraps(handler)
    def guarded(*args: object, **kwargs: object) -> func.HttpResponse:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:  # the edge: nothing may leave as a bare 500
            answer = upstream_answer(exc)
            if answer is None:
                log.exception("%s failed", handler.__name__)
                answer = 500, {"error": "the function failed; the error is in the app's logs"}
            else:
                log.warning("%s: %s is failing (%s)", handler.__name__, answer[1]["service"],
                            type(exc).__name__)
            status, body = answer
            return json_response(status, body, {"Retry-After": "60"} if status == 503 else None)

    return guarded
