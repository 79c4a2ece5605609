"""TableStores: the stores over one storage account, built from settings or a connection string.

Why one object: the stores share one TableServiceClient (one connection pool, one credential), one
table-name prefix (so environments can share an account) and one StoreStats (so a bench can count every
storage request of a run).
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional

from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from requests.utils import get_environ_proxies

from shared.observability import get_logger
from shared.settings import Settings
from shared.store.audit import AuditStore
from shared.store.channel_feed import ChannelFeedStore
from shared.store.cursors import CursorStore
from shared.store.families import FamilyCacheStore
from shared.store.journal import PassJournal
from shared.store.links import LinkStore
from shared.store.projects import ProjectStore
from shared.store.quality import QualityIndex
from shared.store.runs import RunStore
from shared.store.snapshots import SnapshotStore
from shared.store.stats import StoreStats
from shared.store.table import StoreTable
from shared.store.taskindex import TaskIndex

logger = get_logger(__name__)

# Logical name -> table name suffix. Table names: 3-63 alphanumerics starting with a letter
# (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
TABLE_SUFFIXES = {"links": "links", "taskindex": "taskindex", "snapshots": "snapshots",
                  "cursors": "cursors", "audit": "audit", "writebacks": "writebacks", "echoes": "echoes",
                  "families": "families", "runs": "scanruns", "channelfeed": "channelfeed",
                  "quality": "quality", "projects": "projects"}
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")

# The SDK's transport defaults are 300 s to connect and to read: far longer than a function should hang
# on a storage call. Callers may override them (and anything else) through **client_options.
_TRANSPORT_DEFAULTS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 30}


def _client_options(endpoint: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """One configured transport for every table client of the account, with the proxy settings read once.

    Why: azure-core's RequestsTransport leaves `requests` to read the proxy variables (HTTP_PROXY,
    HTTPS_PROXY, NO_PROXY) and CA bundle variables from the environment on EVERY request (trust_env),
    which walks the whole environment each time: 4,010 scans and 1.3 s in a 10k-product pass (issue 14).
    Every request of these stores goes to one endpoint, so the answer is the same each time: it is
    computed here once (requests' own get_environ_proxies, which honours NO_PROXY for that host) and
    handed to the SDK's ProxyPolicy, and the session stops reading the environment.

    Not fixable here: azure-core parses each batch reply with the standard library's email parser, which
    compiles a regex for the reply's unique multipart boundary (email/feedparser.py), once per reply. The
    way to pay it less often is fewer batch replies: see shared/store/journal.py."""
    options = {**_TRANSPORT_DEFAULTS, **overrides}
    if "transport" not in options:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        options["transport"] = RequestsTransport(
            use_env_settings=False, connection_verify=options.pop("connection_verify", verify),
            connection_timeout=options.pop("connection_timeout"), read_timeout=options.pop("read_timeout"))
        options.setdefault("proxies", get_environ_proxies(endpoint) or None)
    return options


class TableStores:
    """links, task_index, snapshots, cursors, audit, families, runs, channel_feed, quality and projects stores
    (`table()` for the rest), plus `stats`."""

    def __init__(self, service: TableServiceClient, prefix: str, *, stats: Optional[StoreStats] = None,
                 credential: Any = None):
        names = {logical: f"{prefix}{suffix}" for logical, suffix in TABLE_SUFFIXES.items()}
        bad = sorted(name for name in names.values() if not _TABLE_NAME.match(name))
        if bad:
            raise ValueError(f"table prefix {prefix!r} gives invalid table names {bad}: a letter, then letters "
                             f"or digits, 63 characters in all at most")
        self.service = service
        self.prefix = prefix
        self.stats = stats or StoreStats()
        self.table_names = names
        self._credential = credential  # closed with the stores when we created it
        self._tables = {logical: StoreTable(service.get_table_client(name), logical, self.stats)
                        for logical, name in names.items()}
        self.links = LinkStore(self._tables["links"])
        self.task_index = TaskIndex(self._tables["taskindex"])
        self.snapshots = SnapshotStore(self._tables["snapshots"])
        self.cursors = CursorStore(self._tables["cursors"])
        self.audit = AuditStore(self._tables["audit"])
        self.families = FamilyCacheStore(self._tables["families"])
        self.runs = RunStore(self._tables["runs"])
        self.channel_feed = ChannelFeedStore(self._tables["channelfeed"])
        self.quality = QualityIndex(self._tables["quality"])
        self.projects = ProjectStore(self._tables["projects"])

    @classmethod
    def from_connection_string(cls, conn: str, prefix: str, **client_options: Any) -> "TableStores":
        """Account key or SAS connection string (Azurite: UseDevelopmentStorage=true)."""
        endpoint = TableServiceClient.from_connection_string(conn).url
        service = TableServiceClient.from_connection_string(conn, **_client_options(endpoint, client_options))
        return cls(service, prefix)

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> "TableStores":
        """STORAGE_CONNECTION_STRING when set; else STORAGE_TABLE_ENDPOINT with DefaultAzureCredential,
        which uses the app's managed identity in Azure (AZURE_CLIENT_ID selects a user-assigned one) and
        developer logins locally. No secret is needed in the identity case."""
        if settings.STORAGE_CONNECTION_STRING is not None:
            return cls.from_connection_string(settings.STORAGE_CONNECTION_STRING.get_secret_value(),
                                              settings.TABLE_PREFIX, **client_options)
        from azure.identity import DefaultAzureCredential  # imported only when used: it is slow to import

        credential = DefaultAzureCredential()
        endpoint = settings.STORAGE_TABLE_ENDPOINT or ""
        service = TableServiceClient(endpoint=endpoint, credential=credential,
                                     **_client_options(endpoint, client_options))
        return cls(service, settings.TABLE_PREFIX, credential=credential)

    def journal(self) -> PassJournal:
        """A buffer for one pass's audit entries and task index rows (written in batches; see journal.py)."""
        return PassJournal(self.audit, self.task_index)

    def table(self, logical: str) -> StoreTable:
        """One table by logical name, for stores that live with their job (shared/writeback/ uses
        `writebacks` and `echoes`)."""
        return self._tables[logical]

    def ensure_tables(self) -> None:
        """Create the tables that do not exist yet; safe to run concurrently and repeatedly."""
        for logical, name in self.table_names.items():
            self.stats.record(logical, "create_table")
            self.service.create_table_if_not_exists(name)

    def ping(self, timeout_seconds: float = 2.0) -> bool:
        """True when the account answers an entity query on our cursors table within the timeout.

        For /api/health: one cheap request, no retries, never raises. A missing table counts as
        unhealthy (ensure_tables has not run). Only the exception type is logged: messages can carry URLs.
        """
        try:
            next(self._tables["cursors"].query(
                "PartitionKey eq @pk", {"pk": "ping"}, page_size=1, retry_total=0,
                connection_timeout=timeout_seconds, read_timeout=timeout_seconds), None)
            return True
        except Exception as exc:  # noqa: BLE001 - a health probe reports, it does not raise
            logger.warning("table storage ping failed: %s", type(exc).__name__)
            return False

    def close(self) -> None:
        self.service.close()
        if self._credential is not None:
            self._credential.close()

    def __enter__(self) -> "TableStores":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:  # not the URL: with a SAS connection string it carries the token
        return f"TableStores(account={self.service.account_name!r}, prefix={self.prefix!r})"
