"""Queue triggers and queue output bindings against Azure Storage queues (Azurite locally).

What the host does, and this copies (azure-webjobs-sdk QueueProcessor, Storage Queues extension 5.x;
Microsoft Learn, "Azure Queue storage trigger for Azure Functions", poison messages):
- a message is handed to the function with its id, body and dequeue count, and deleted when the function
  succeeds;
- when it fails and its dequeue count has reached maxDequeueCount (host.json, default 5) it is copied to
  `<queue>-poison` (created when missing) and deleted; otherwise it is made visible again after
  visibilityTimeout (default 0) for the next try;
- a message already dequeued more often than allowed (a host died while running it) goes to the poison
  queue without another run;
- bodies are base64 unless host.json sets messageEncoding "none"; output bindings encode the same way
  and create their queue when it does not exist (QueueAsyncCollector: AddMessageAndCreateIfNotExistsAsync).
- `connection` names an app setting: "AzureWebJobs<name>" or "<name>" holding a connection string, or a
  managed-identity collection "<name>__queueServiceUri" / "<name>__serviceUri" / "<name>__accountName".
Differences, on purpose: one message at a time per function (the host runs up to batchSize +
newBatchThreshold in parallel), and a fixed short poll interval instead of the host's back-off up to
maxPollingInterval (one minute), so a local edit-run loop is quick.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from typing import Any, Mapping, Optional

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionMessage
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StorageMessage

from devhost.host_config import HostOptions
from devhost.index import IndexedFunction, QueueOutput
from devhost.invoker import Invoker

log = logging.getLogger("devhost.queues")
# How long a received message stays invisible while the function runs (the host's message lease).
PROCESSING_LEASE_SECONDS = 600


class StorageConnectionError(ValueError):
    """A `connection` names no usable setting; the message names the settings looked for, no values."""


class StorageQueues:
    """Queue clients per (connection setting, queue), built from app settings once."""

    def __init__(self, environ: Mapping[str, str], options: HostOptions) -> None:
        self._environ = environ
        self._options = options
        self._clients: dict[tuple[str, str], QueueClient] = {}
        self._lock = threading.Lock()

    def client(self, connection: str, queue_name: str) -> QueueClient:
        """A client that sends and receives raw text: encoding is done here, per host.json."""
        with self._lock:
            key = (connection, queue_name)
            if key not in self._clients:
                self._clients[key] = self._build(connection, queue_name)
            return self._clients[key]

    def check(self, connection: str) -> None:
        """Fail at start-up, as the host does, when a connection names no setting."""
        self._target(connection)

    def _target(self, connection: str) -> tuple[Optional[str], Optional[str], Optional[str]]:
        """(connection string, account URL, managed identity client id) for `connection`."""
        for name in (f"AzureWebJobs{connection}", connection):
            if self._environ.get(name):
                return self._environ[name], None, None
            url = self._environ.get(f"{name}__queueServiceUri") or self._environ.get(f"{name}__serviceUri")
            account = self._environ.get(f"{name}__accountName")
            if url or account:
                return None, url or f"https://{account}.queue.core.windows.net", self._environ.get(
                    f"{name}__clientId")
        raise StorageConnectionError(
            f"queue connection {connection!r}: set app setting {connection!r} to a connection string, or "
            f"{connection}__queueServiceUri / {connection}__accountName for a managed identity")

    def _build(self, connection: str, queue_name: str) -> QueueClient:
        connection_string, url, client_id = self._target(connection)
        if connection_string is not None:
            return QueueClient.from_connection_string(connection_string, queue_name)
        from azure.identity import DefaultAzureCredential  # only needed against real accounts

        return QueueClient(url, queue_name,  # type: ignore[arg-type]  # url is set without a connection string
                           credential=DefaultAzureCredential(managed_identity_client_id=client_id))

    def encode(self, body: Any) -> str:
        """A message body as the host writes it: base64 of the bytes, or the text itself."""
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if self._options.message_encoding == "base64":
            return base64.b64encode(raw).decode("ascii")
        return raw.decode("utf-8")

    def decode(self, content: str) -> bytes:
        if self._options.message_encoding == "base64":
            try:
                return base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("message is not base64 (host.json messageEncoding is base64; send base64 "
                                 "or set messageEncoding to none)") from None
        return content.encode("utf-8")

    def send_output(self, binding: QueueOutput, value: Any) -> None:
        """Send what a function set on a queue output binding (one message, or one per list item)."""
        items = value if isinstance(value, list) else [value]
        client = self.client(binding.connection, binding.queue_name)
        for item in items:
            if not isinstance(item, (str, bytes, bytearray)):
                raise TypeError(f"queue output {binding.arg_name!r} takes str, bytes or a list of them, "
                                f"not {type(item).__name__}")
            try:
                client.send_message(self.encode(item))
            except ResourceNotFoundError:  # the host's output binding creates the queue on first use
                _create_if_missing(client)
                client.send_message(self.encode(item))


def _create_if_missing(client: QueueClient) -> None:
    try:
        client.create_queue()
    except ResourceExistsError:
        pass


class QueueListener(threading.Thread):
    """Polls one function's queue until `stop` is set."""

    def __init__(self, function: IndexedFunction, invoker: Invoker, queues: StorageQueues,
                 options: HostOptions, stop: threading.Event) -> None:
        super().__init__(name=f"devhost-queue-{function.name}", daemon=True)
        self._function = function
        self._invoker = invoker
        self._queues = queues
        self._options = options
        self._stopping = stop
        self._queue = queues.client(function.connection or "AzureWebJobsStorage", function.queue_name or "")
        self._missing_logged = False

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                handled = self.poll_once()
            except ResourceNotFoundError:
                if not self._missing_logged:
                    log.warning("queue %r does not exist yet; polling until it does", self._queue.queue_name)
                    self._missing_logged = True
                handled = 0
            except AzureError as exc:  # storage down or unreachable: keep the loop alive, try again
                log.warning("queue %r: %s", self._queue.queue_name, type(exc).__name__)
                handled = 0
            except Exception:  # a listener must outlive any one bad message
                log.exception("queue %r: unexpected error; polling goes on", self._queue.queue_name)
                handled = 0
            if not handled:
                self._stopping.wait(self._options.queue_poll_interval)

    def poll_once(self) -> int:
        """Receive one batch and handle each message; return how many there were."""
        messages = list(self._queue.receive_messages(messages_per_page=self._options.batch_size,
                                                     max_messages=self._options.batch_size,
                                                     visibility_timeout=PROCESSING_LEASE_SECONDS))
        for message in messages:
            if self._stopping.is_set():
                break
            self._handle(message)
        return len(messages)

    def _handle(self, message: StorageMessage) -> None:
        if (message.dequeue_count or 0) > self._options.max_dequeue_count:
            self._to_poison(message)
            return
        try:
            body = self._queues.decode(message.content)
        except ValueError as exc:
            log.error("message %s on %r: %s", message.id, self._queue.queue_name, exc)
            self._failed(message)
            return
        trigger = FunctionMessage(
            id=message.id, body=body, dequeue_count=message.dequeue_count, expiration_time=message.expires_on,
            insertion_time=message.inserted_on, time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt)
        try:
            self._invoker.invoke(self._function, trigger,
                                 reason=f"New queue message detected on '{self._queue.queue_name}'.")
        except Exception:  # noqa: BLE001 - the invoker logged it with its traceback
            self._failed(message)
            return
        self._queue.delete_message(message)

    def _failed(self, message: StorageMessage) -> None:
        """Poison after the last allowed try, else visible again after visibilityTimeout."""
        if (message.dequeue_count or 0) >= self._options.max_dequeue_count:
            self._to_poison(message)
        else:
            self._queue.update_message(message, visibility_timeout=round(self._options.visibility_timeout))

    def _to_poison(self, message: StorageMessage) -> None:
        poison = self._queues.client(self._function.connection or "AzureWebJobsStorage",
                                     f"{self._queue.queue_name}-poison")
        _create_if_missing(poison)
        poison.send_message(message.content)  # the original text, byte for byte
        self._queue.delete_message(message)
        log.warning("message %s moved to %r after %d dequeues", message.id, poison.queue_name,
                    message.dequeue_count)
