"""The app's Azure Storage queues: their names, and the poison-queue check /api/health runs.

Names. Every queue is `<QUEUE_PREFIX>-<name>`, so environments (and tests) sharing one storage account
never take each other's messages. A trigger or output binding names its queue with `binding(name)`,
the app-setting binding expression `%QUEUE_PREFIX%-<name>` that the Functions host resolves at start-up
(Microsoft Learn, "Azure Functions binding expression patterns", app settings); code that talks to a
queue itself uses `queue_name(prefix, name)`.

Poison queues. After maxDequeueCount failed tries (host.json, default 5) the host moves a message to
`<queue>-poison` (Microsoft Learn, "Azure Queue storage trigger for Azure Functions", poison messages),
and nothing reads it there. So /api/health reports every watched poison queue that holds messages.
A job that adds a queue trigger adds its queue name to WATCHED_QUEUES: one line.

Connection. The host's triggers use AzureWebJobsStorage; the app's own client uses STORAGE_CONNECTION_STRING
(Azurite locally) or STORAGE_QUEUE_ENDPOINT with the managed identity, the same account in Azure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from azure.storage.queue import QueueServiceClient

from shared.observability import get_logger
from shared.settings import Settings

log = get_logger(__name__)

SCANS = "scans"  # on-demand scans: POST /api/scans -> scan_worker
CHANNEL_CHECKS = "channel-checks"  # POST /api/plytix/channel-webhook -> channel_feed_check (job 5)
PLANNER_NOTIFICATIONS = "planner-notifications"  # POST /api/planner/notifications -> its worker (job 4)
POISON_SUFFIX = "-poison"

# Queues whose poison queue /api/health reports. Add yours here when you add a queue trigger.
WATCHED_QUEUES: tuple[str, ...] = (
    SCANS,
    CHANNEL_CHECKS,
    PLANNER_NOTIFICATIONS,
)

# The SDK's transport defaults are 300 s to connect and to read; a health probe must not hang that long.
_CLIENT_DEFAULTS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 10}


def binding(name: str) -> str:
    """The queue name for a trigger or output binding, resolved by the host from QUEUE_PREFIX."""
    return f"%QUEUE_PREFIX%-{name}"


def queue_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


def poison_queue_names(prefix: str, names: Iterable[str] = WATCHED_QUEUES) -> list[str]:
    return [queue_name(prefix, name) + POISON_SUFFIX for name in names]


@dataclass(frozen=True)
class PoisonReport:
    """Messages waiting in each watched poison queue (None: could not be read)."""

    counts: dict[str, Optional[int]]

    @property
    def healthy(self) -> bool:
        return all(count == 0 for count in self.counts.values())


class AppQueues:
    """The app's view of its queues (one QueueServiceClient per process, see shared.runtime)."""

    def __init__(self, service: QueueServiceClient, prefix: str, *, credential: Any = None) -> None:
        self.service = service
        self.prefix = prefix
        self._credential = credential

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> "AppQueues":
        """STORAGE_CONNECTION_STRING when set; else STORAGE_QUEUE_ENDPOINT with the managed identity.
        Raises ValueError (naming the setting) when neither is set."""
        options = {**_CLIENT_DEFAULTS, **client_options}
        if settings.STORAGE_CONNECTION_STRING is not None:
            return cls(QueueServiceClient.from_connection_string(
                settings.STORAGE_CONNECTION_STRING.get_secret_value(), **options), settings.QUEUE_PREFIX)
        if not settings.STORAGE_QUEUE_ENDPOINT:
            raise ValueError("STORAGE_QUEUE_ENDPOINT is not set (needed without STORAGE_CONNECTION_STRING)")
        from azure.identity import DefaultAzureCredential  # slow to import: only when used

        credential = DefaultAzureCredential()
        return cls(QueueServiceClient(settings.STORAGE_QUEUE_ENDPOINT, credential=credential, **options),
                   settings.QUEUE_PREFIX, credential=credential)

    def poison_report(self, names: Iterable[str] = WATCHED_QUEUES) -> PoisonReport:
        """How many messages wait in each `<queue>-poison`. A poison queue that does not exist holds
        none (the host creates it with the first poison message). Never raises: health reports."""
        return PoisonReport({poison: self._count(poison) for poison in poison_queue_names(self.prefix, names)})

    def _count(self, queue: str) -> Optional[int]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.service.get_queue_client(queue).get_queue_properties(retry_total=0).approximate_message_count
        except ResourceNotFoundError:
            return 0
        except Exception as exc:  # noqa: BLE001 - a health probe reports, it does not raise
            log.warning("queue %s cannot be read: %s", queue, type(exc).__name__)  # no message: URLs
            return None

    def close(self) -> None:
        self.service.close()
        if self._credential is not None:
            self._credential.close()
