"""One table as the stores see it: the SDK client, request counting and the conflict mapping they share.

Why a wrapper: every store needs the same three things around azure-data-tables calls (count the request
for StoreStats, turn "412 / 404 on a conditional write" into ConcurrentUpdate, page through queries),
and writing them once keeps the stores about their data. Writes always REPLACE whole entities, never
MERGE: a MERGE would keep properties a newer version dropped (e.g. stale JSON chunks).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Optional

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared.store.errors import ConcurrentUpdate
from shared.store.stats import StoreStats


class StoreTable:
    """A TableClient plus the logical name used in stats and error messages ("links", "audit"...)."""

    def __init__(self, client: TableClient, name: str, stats: StoreStats):
        self.client = client
        self.name = name
        self.stats = stats

    def create(self, entity: Mapping[str, Any]) -> str:
        """Insert; ResourceExistsError propagates (its meaning differs per store). Returns the new ETag."""
        self.stats.record(self.name, "create")
        return self.client.create_entity(entity)["etag"]

    def get(self, partition_key: str, row_key: str) -> Optional[TableEntity]:
        self.stats.record(self.name, "read")
        try:
            return self.client.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            return None

    def replace(self, entity: Mapping[str, Any], etag: str) -> str:
        """Conditional REPLACE; ConcurrentUpdate if the row changed or vanished since `etag` was read."""
        self.stats.record(self.name, "replace")
        try:
            return self.client.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                             match_condition=MatchConditions.IfNotModified)["etag"]
        except ResourceModifiedError:
            raise self._conflict(entity, "was changed by someone else") from None
        except ResourceNotFoundError:
            raise self._conflict(entity, "was deleted by someone else") from None

    def upsert(self, entity: Mapping[str, Any]) -> str:
        """Unconditional insert-or-replace (last writer wins). Returns the new ETag."""
        self.stats.record(self.name, "upsert")
        return self.client.upsert_entity(entity, mode=UpdateMode.REPLACE)["etag"]

    def delete(self, partition_key: str, row_key: str, etag: Optional[str] = None) -> None:
        """Delete, conditional on `etag` when given. A row already gone is fine (the SDK ignores 404)."""
        self.stats.record(self.name, "delete")
        if etag is None:
            self.client.delete_entity(partition_key, row_key)
            return
        try:
            self.client.delete_entity(partition_key, row_key, etag=etag,
                                      match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            raise self._conflict({"PartitionKey": partition_key, "RowKey": row_key},
                                 "was changed by someone else") from None

    def query(self, query_filter: Optional[str], parameters: Optional[dict[str, Any]] = None,
              page_size: Optional[int] = None, **options: Any) -> Iterator[TableEntity]:
        """Stream matching entities (every entity when `query_filter` is None) page by page: one counted
        request per page, memory flat.

        Filters must use `@name` placeholders separated by spaces from their neighbours: the SDK
        substitutes (and quotes) them by splitting the filter on spaces.
        """
        if query_filter is None:
            paged = self.client.list_entities(results_per_page=page_size, **options)
        else:
            paged = self.client.query_entities(query_filter, parameters=parameters,
                                               results_per_page=page_size, **options)
        pages = paged.by_page()
        for page in pages:  # a page exists only once its request has been answered: count it then
            self.stats.record(self.name, "query")
            yield from page

    def submit(self, operations: Iterable[tuple[Any, ...]]) -> list[Mapping[str, Any]]:
        """One entity group transaction of (verb, entity[, options]) tuples, already grouped and sized."""
        self.stats.record(self.name, "batch")
        return self.client.submit_transaction(list(operations))

    def _conflict(self, entity: Mapping[str, Any], what: str) -> ConcurrentUpdate:
        return ConcurrentUpdate(f"{self.name} row (PartitionKey={entity['PartitionKey']!r}, "
                                f"RowKey={entity['RowKey']!r}) {what}; re-read and retry")
