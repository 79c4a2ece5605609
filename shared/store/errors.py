"""The errors the stores raise, so callers never have to know azure-core's exception zoo.

Why a hierarchy of our own: the reconciler branches on meaning ("someone else claimed this finding",
"someone else wrote first") and the HTTP layer maps bad input to 4xx. Azure exceptions (network, auth,
throttling) still propagate unchanged: they mean "try again later", and the Functions runtime retries.
Messages name tables, keys and fields, never stored values (they may be customer data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from shared.store.links import Link


class StoreError(Exception):
    """Base of every error raised by shared.store."""


class InvalidKey(StoreError, ValueError):
    """A value cannot be used as a PartitionKey/RowKey (forbidden characters, empty, or too long)."""


class InvalidValue(StoreError, ValueError):
    """A value cannot be stored as given (naive datetime, data that is not JSON, missing etag...)."""


class AlreadyClaimed(StoreError):
    """The link row already exists: another worker claimed this finding first.

    `existing` is the row as it is now (None only if it vanished between the conflict and the re-read).
    """

    def __init__(self, existing: Optional["Link"], message: str):
        super().__init__(message)
        self.existing = existing


class ConcurrentUpdate(StoreError):
    """Someone else wrote (or deleted) the row since we read it: re-read, re-apply, save again."""


class EntityTooLarge(StoreError, ValueError):
    """An entity breaks a Table Storage limit that Azurite would not have enforced."""

    def __init__(self, table: str, partition_key: str, row_key: str, reason: str):
        super().__init__(f"entity too large for table {table!r} "
                         f"(PartitionKey={partition_key!r}, RowKey={row_key!r}): {reason}")
        self.table = table
        self.partition_key = partition_key
        self.row_key = row_key
