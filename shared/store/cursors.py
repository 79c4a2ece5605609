"""Cursors: small named JSON documents with optimistic concurrency (watermarks, delta links, checkpoints).

Why conditional writes: several function instances may run the same scan; a cursor saved without its
ETag could move a watermark backwards or skip a page. `save` therefore creates only when the caller has
never seen the cursor (etag None) and otherwise replaces only the version the caller read: the loser of
any race gets ConcurrentUpdate and re-reads.

PartitionKey = escaped name (each cursor its own partition: no hot spot), RowKey = "cursor".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from azure.core.exceptions import ResourceExistsError

from shared.store.entity import build_entity, read_etag, read_json
from shared.store.errors import ConcurrentUpdate
from shared.store.keys import key_for
from shared.store.table import StoreTable

_ROW_KEY = "cursor"


@dataclass
class Cursor:
    name: str
    value: dict[str, Any]
    etag: Optional[str] = None  # None: not stored yet (as far as the caller knows)


class CursorStore:
    """Read and conditionally write cursors."""

    def __init__(self, table: StoreTable):
        self._table = table

    def get(self, name: str) -> Optional[Cursor]:
        entity = self._table.get(key_for(name, "cursor name"), _ROW_KEY)
        if entity is None:
            return None
        return Cursor(name=name, value=read_json(entity, "value", {}), etag=read_etag(entity))

    def save(self, cursor: Cursor) -> Cursor:
        """Create (etag None) or replace the version read; ConcurrentUpdate if someone else got there first.
        Returns the cursor with its new ETag."""
        entity = build_entity(self._table.name, key_for(cursor.name, "cursor name"), _ROW_KEY,
                              {"value": cursor.value})
        if cursor.etag is None:
            try:
                return dataclasses.replace(cursor, etag=self._table.create(entity))
            except ResourceExistsError:
                raise ConcurrentUpdate(f"cursor {cursor.name!r} was created by someone else; "
                                       f"re-read it and retry") from None
        return dataclasses.replace(cursor, etag=self._table.replace(entity, cursor.etag))

    def delete(self, name: str) -> None:
        """Remove a cursor (a row already gone is fine)."""
        self._table.delete(key_for(name, "cursor name"), _ROW_KEY)
