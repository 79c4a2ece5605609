"""Structured logs and counters, shared by every part of the app, as OpenTelemetry exports them.

Log events: `log_event` writes `event key=value ...` as the message (readable in a console) and passes
every dimension as its own attribute of the log record (`extra`). OpenTelemetry's logging handler turns a
record's attributes into log attributes, and the Azure Monitor exporter writes those to `customDimensions`
of `traces` (shared/telemetry.py says how telemetry is configured). Before OpenTelemetry the Python worker
forwarded only the message text (Azure/azure-functions-python-worker issues #788, #1327, #1681), which is
why the message still carries the dimensions. Attribute values are str, bool, int or float; None values
stay in the message only (OpenTelemetry attributes cannot be null). Dimension names must not be names a
`logging.LogRecord` already uses (`name`, `module`, ...).

Why secrets cannot leak through here: dimension keys that look secret, `SecretStr` values, and values
that look like tokens or connection strings are replaced by a marker before anything is formatted.

Counters: each `Counters` keeps in-process totals (for /api/health and the demo) and adds the same amounts
to OpenTelemetry counters (`customMetrics` in Application Insights: tasks_created, tasks_closed,
tasks_updated, tasks_reopened, writebacks, api_calls and api_throttled by `service`), which are summed
across instances there. A Counters built without a meter uses the global meter provider.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from enum import Enum
from typing import Any, Mapping, Optional

from opentelemetry import metrics
from opentelemetry.metrics import Meter
from pydantic import SecretStr

LOGGER_ROOT = "plytix_planner"
REDACTED = "[redacted]"
MAX_VALUE_LENGTH = 256

# Dimension names become KQL column names: lower snake case, like `rule`, `product`, `fingerprint`.
_DIMENSION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SECRET_KEY = re.compile(
    r"secret|passw|pwd|token|authorization|credential|api_?key|access_?key|account_?key|"
    r"connection_?string|signature|cookie|^sas$|_sas$|sig$",
)
_SECRET_VALUE = re.compile(
    r"eyJ[\w-]{8,}\.[\w-]{8,}\."  # a JWT (Plytix and Graph access tokens)
    r"|\bbearer\s+\S"  # an Authorization header value
    r"|accountkey=|sharedaccesskey=|\bsig=[\w%]{16,}",  # storage/service-bus keys and SAS signatures
    re.IGNORECASE,
)
_NEEDS_QUOTES = re.compile(r'[\s="\\]')
# Names a LogRecord already has (`extra` may not overwrite them), plus the two a Formatter adds.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def get_logger(name: str) -> logging.Logger:
    """A logger under the app's namespace, so one handler or level on "plytix_planner" covers the app.

    Adds no handler: in Azure the Functions worker's root handler ships records to the host; locally the
    demo or devhost configures logging once.
    """
    if not name:
        raise ValueError("logger name must not be empty")
    if name == LOGGER_ROOT or name.startswith(LOGGER_ROOT + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_ROOT}.{name}")


def safe_dimensions(dimensions: Mapping[str, Any]) -> dict[str, Any]:
    """Validate dimension names and make every value safe to log.

    A bad name is a programming error and raises ValueError; a secret-looking name or value is replaced
    by REDACTED (logging must not crash a scan, and must not leak). Values are kept as primitives where
    possible and shortened to MAX_VALUE_LENGTH characters.
    """
    _check_names(dimensions)
    return {key: REDACTED if _SECRET_KEY.search(key) else _safe_value(value) for key, value in dimensions.items()}


def format_event(event: str, dimensions: Mapping[str, Any]) -> str:
    """`event key=value ...` with values quoted (JSON) only when they contain spaces, `=` or quotes.

    One line, whatever the values hold: quoting escapes newlines, so a value cannot forge a log line.
    """
    parts = [event]
    for key, value in dimensions.items():
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{key}={json.dumps(text) if not text or _NEEDS_QUOTES.search(text) else text}")
    return " ".join(parts)


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **dimensions: Any) -> None:
    """Log one event with its dimensions (rule, product, task, fingerprint, service, ...).

    `event` is a short snake_case name ("task_created", "api_throttled"); it starts the message so KQL
    can filter on it. Dimensions with a None value are kept (they say "not applicable").
    """
    if not _DIMENSION_KEY.match(event):
        raise ValueError(f"invalid event name {event!r}: use lower_snake_case")
    # Names are checked even when the level is off, so a bad name fails in every test run.
    _check_names(dimensions)
    if not logger.isEnabledFor(level):
        return
    safe = safe_dimensions(dimensions)
    attributes = {"event": event, **{key: value for key, value in safe.items() if value is not None}}
    logger.log(level, format_event(event, safe), extra=attributes)


class Count(str, Enum):
    """The scalar counters; an Enum so a typo is an error, not a silently new counter."""

    tasks_created = "tasks_created"
    tasks_closed = "tasks_closed"
    tasks_updated = "tasks_updated"
    tasks_reopened = "tasks_reopened"
    writebacks = "writebacks"


class Counters:
    """Thread-safe, process-wide counters of what this instance did since it started (or was reset)."""

    def __init__(self, meter: Optional[Meter] = None) -> None:
        self._lock = threading.Lock()
        self._scalars: Counter[str] = Counter()
        self._api_calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        meter = meter or metrics.get_meter(LOGGER_ROOT)
        self._metrics = {name.value: meter.create_counter(name.value, unit="1") for name in Count}
        self._metric_calls = meter.create_counter("api_calls", unit="1", description="HTTP calls per service")
        self._metric_throttled = meter.create_counter("api_throttled", unit="1", description="429 answers")

    def add(self, counter: Count | str, amount: int = 1) -> None:
        """Add `amount` (>= 0) to one of the `Count` counters."""
        name = Count(counter).value
        if amount < 0:
            raise ValueError("counters only grow; amount must be >= 0")
        with self._lock:
            self._scalars[name] += amount
        self._metrics[name].add(amount)

    def record_api_call(self, service: str, *, throttled: bool = False) -> None:
        """Count one call to `service` ("plytix", "graph"); a 429 answer also counts as throttled."""
        if not _DIMENSION_KEY.match(service):
            raise ValueError(f"invalid service name {service!r}: use lower_snake_case")
        with self._lock:
            self._api_calls[service] += 1
            if throttled:
                self._throttled[service] += 1
        self._metric_calls.add(1, {"service": service})
        if throttled:
            self._metric_throttled.add(1, {"service": service})

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy: every `Count` (0 when untouched), then api_calls and throttled by service."""
        with self._lock:
            result: dict[str, Any] = {name.value: self._scalars[name.value] for name in Count}
            result["api_calls"] = dict(sorted(self._api_calls.items()))
            result["throttled"] = dict(sorted(self._throttled.items()))
        return result

    def reset(self) -> None:
        """Start again from zero (tests, or the demo between runs)."""
        with self._lock:
            self._scalars.clear()
            self._api_calls.clear()
            self._throttled.clear()


COUNTERS = Counters()

_api_logger = get_logger("api")


def record_api_call(service: str, status: int, *, counters: Optional[Counters] = None) -> None:
    """What the API clients call once per HTTP response: counts it, and logs a 429 as `api_throttled`.

    The `api_throttled` event is what the "429s by service" query in docs/DEPLOYMENT.md counts across
    all instances.
    """
    throttled = status == 429
    (counters or COUNTERS).record_api_call(service, throttled=throttled)
    if throttled:
        log_event(_api_logger, "api_throttled", level=logging.WARNING, service=service, status=status)


def _check_names(dimensions: Mapping[str, Any]) -> None:
    for key in dimensions:
        if not isinstance(key, str) or not _DIMENSION_KEY.match(key):
            raise ValueError(f"invalid log dimension name {key!r}: use lower_snake_case, at most 64 characters")
        if key in _RECORD_ATTRIBUTES:
            raise ValueError(f"invalid log dimension name {key!r}: a logging.LogRecord attribute already")


def _safe_value(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value.value) if isinstance(value, Enum) else str(value)
    if _SECRET_VALUE.search(text):
        return REDACTED
    return text if len(text) <= MAX_VALUE_LENGTH else text[: MAX_VALUE_LENGTH - 1] + "…"
