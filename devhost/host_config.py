"""The parts of host.json that change how functions are called, read with the host's defaults.

Why read host.json at all: the same file configures the app in Azure, so queue retries, message
encoding and the route prefix behave locally as they will there, instead of devhost having its own idea.
Defaults (Microsoft Learn, "host.json reference for Azure Functions 2.x and later"; QueuesOptions of
Microsoft.Azure.WebJobs.Extensions.Storage.Queues 5.x): routePrefix "api", maxDequeueCount 5,
visibilityTimeout 00:00:00, batchSize 16 (1-32), messageEncoding "base64" (the Storage Queues extension
5.x base64-decodes messages unless host.json says "none").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional


class HostConfigError(ValueError):
    """host.json is unreadable or has a value the host would reject; the message names the field."""


_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")


def parse_timespan(text: str, field: str) -> float:
    """Seconds in a .NET TimeSpan string such as "00:00:30" or "1.00:00:00"."""
    found = _TIMESPAN.match(str(text).strip())
    if not found:
        raise HostConfigError(f"host.json {field}: {text!r} is not a TimeSpan like 00:00:30")
    return (int(found["days"] or 0) * 86400 + int(found["h"]) * 3600 + int(found["m"]) * 60
            + float(found["s"]))


@dataclass(frozen=True)
class HostOptions:
    """How devhost calls functions: host.json values plus devhost's own knobs."""

    route_prefix: str = "api"
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # seconds before a failed message is visible again
    batch_size: int = 16
    message_encoding: str = "base64"  # or "none"
    # devhost's own: how often an empty queue is polled (the host backs off up to maxPollingInterval,
    # default one minute; locally a short fixed interval keeps the edit-run loop quick).
    queue_poll_interval: float = 1.0

    @classmethod
    def from_host_json(cls, path: Path, **overrides: Any) -> "HostOptions":
        """Options from `path` (defaults when the file does not exist), then `overrides`."""
        options = cls()
        if path.exists():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise HostConfigError(f"cannot read {path}: {exc}") from None
            options = cls._from_document(document)
        return replace(options, **overrides)

    @classmethod
    def _from_document(cls, document: Any) -> "HostOptions":
        extensions = _mapping(_mapping(document, "host.json").get("extensions", {}), "extensions")
        http = _mapping(extensions.get("http", {}), "extensions.http")
        queues = _mapping(extensions.get("queues", {}), "extensions.queues")
        defaults = cls()
        prefix = http.get("routePrefix", defaults.route_prefix)
        if not isinstance(prefix, str):
            raise HostConfigError("host.json extensions.http.routePrefix must be a string")
        encoding = str(queues.get("messageEncoding", defaults.message_encoding)).lower()
        if encoding not in ("base64", "none"):
            raise HostConfigError("host.json extensions.queues.messageEncoding must be base64 or none")
        visibility = queues.get("visibilityTimeout")
        return cls(
            route_prefix=prefix.strip("/"),
            max_dequeue_count=_whole(queues, "maxDequeueCount", defaults.max_dequeue_count, 1, 10_000),
            visibility_timeout=(defaults.visibility_timeout if visibility is None
                                else parse_timespan(visibility, "extensions.queues.visibilityTimeout")),
            batch_size=_whole(queues, "batchSize", defaults.batch_size, 1, 32),
            message_encoding=encoding,
        )


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HostConfigError(f"host.json {field} must be an object")
    return value


def _whole(section: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value: Optional[Any] = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise HostConfigError(f"host.json extensions.queues.{key} must be a whole number {low}-{high}")
    return value
