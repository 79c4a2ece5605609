"""Turning store records into Table entities and back, with the service limits enforced here.

Why here: Azurite accepts entities the real service rejects (API_FACTS.md), so a limit we do not check
ourselves surfaces for the first time in production. The limits, from "Understanding the Table service
data model" (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model):
at most 252 custom properties, an entity of at most 1 MiB, string properties of at most 64 KiB (UTF-16).
The entity size is computed with the formula Microsoft published for it
(https://learn.microsoft.com/archive/blogs/avkashchauhan/how-the-size-of-an-entity-is-caclulated-in-windows-azure-table-storage):
4 + 2 * len(PartitionKey + RowKey) + per property (8 + 2 * len(name) + value size), strings
4 + 2 * len, DateTime 8, Boolean 1.

Dicts and lists are stored as compact JSON strings. A JSON text longer than one string property is split
over `name`, `name__1`, `name__2`... (a product snapshot with long HTML descriptions in several locales can
pass 32K characters); writes always REPLACE whole entities, so stale chunks never survive.
Datetimes are stored timezone-aware UTC; a naive datetime is refused rather than guessed (the SDK would
silently read it as local time).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping, Optional

from shared.store.errors import EntityTooLarge, InvalidValue

MAX_CUSTOM_PROPERTIES = 252
MAX_ENTITY_BYTES = 1024 * 1024
MAX_STRING_BYTES = 64 * 1024
_CHUNK_SUFFIX = "__"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def build_entity(table: str, partition_key: str, row_key: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """A Table entity from already-validated keys and plain values; None values are left out.

    Raises EntityTooLarge (naming table and keys) when a limit is broken, InvalidValue for values that
    cannot be stored faithfully.
    """
    entity: dict[str, Any] = {"PartitionKey": partition_key, "RowKey": row_key}
    for name, value in properties.items():
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            entity.update(_json_chunks(table, partition_key, row_key, name, value))
        else:
            entity[name] = _scalar(table, partition_key, row_key, name, value)
    _check_limits(table, entity)
    return entity


def read_str(entity: Mapping[str, Any], name: str) -> Optional[str]:
    value = entity.get(name)
    return None if value is None else str(value)


def read_datetime(entity: Mapping[str, Any], name: str) -> Optional[datetime]:
    """A plain aware-UTC datetime (the SDK returns its own datetime subclass)."""
    value = entity.get(name)
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                    value.microsecond, tzinfo=timezone.utc)


def read_json(entity: Mapping[str, Any], name: str, default: Any) -> Any:
    """Reassemble and parse a JSON property written by build_entity; `default` when absent."""
    first = entity.get(name)
    if first is None:
        return default
    parts = [first]
    index = 1
    while (part := entity.get(f"{name}{_CHUNK_SUFFIX}{index}")) is not None:
        parts.append(part)
        index += 1
    return json.loads("".join(parts))


def read_etag(entity: Any) -> Optional[str]:
    """The ETag of an entity returned by the SDK (kept in its metadata, not among the properties)."""
    metadata = getattr(entity, "metadata", None) or {}
    return metadata.get("etag")


def utf16_bytes(text: str) -> int:
    """Size of a string as Table Storage stores it."""
    return len(text.encode("utf-16-le", errors="surrogatepass"))


def _scalar(table: str, pk: str, rk: str, name: str, value: Any) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidValue(f"{table}.{name} must be a timezone-aware datetime (naive datetimes are ambiguous)")
        return value.astimezone(timezone.utc)
    if isinstance(value, str):
        if utf16_bytes(value) > MAX_STRING_BYTES:
            raise EntityTooLarge(table, pk, rk, f"property {name!r} is over {MAX_STRING_BYTES} bytes as UTF-16")
        return value
    raise InvalidValue(f"{table}.{name}: cannot store a {type(value).__name__} (str, bool, datetime, "
                       f"dict or list only)")


def _json_chunks(table: str, pk: str, rk: str, name: str, value: Any) -> dict[str, str]:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{table}.{name} is not JSON-serialisable: {exc}") from None
    if utf16_bytes(text) <= MAX_STRING_BYTES:
        return {name: text}
    # A code point takes one or two UTF-16 units: chunk by the worst case when astral characters occur.
    units_per_char = 1 if utf16_bytes(text) == 2 * len(text) else 2
    step = MAX_STRING_BYTES // (2 * units_per_char)
    chunks = [text[i:i + step] for i in range(0, len(text), step)]
    return {(name if i == 0 else f"{name}{_CHUNK_SUFFIX}{i}"): chunk for i, chunk in enumerate(chunks)}


def _check_limits(table: str, entity: dict[str, Any]) -> None:
    pk, rk = entity["PartitionKey"], entity["RowKey"]
    custom = len(entity) - 2
    if custom > MAX_CUSTOM_PROPERTIES:
        raise EntityTooLarge(table, pk, rk, f"{custom} properties, over the limit of {MAX_CUSTOM_PROPERTIES}")
    size = entity_size(entity)
    if size > MAX_ENTITY_BYTES:
        raise EntityTooLarge(table, pk, rk, f"{size} bytes, over the limit of {MAX_ENTITY_BYTES}")


def entity_size(entity: Mapping[str, Any]) -> int:
    """Stored size of an entity by Microsoft's formula (see the module docstring)."""
    size = 4 + utf16_bytes(entity["PartitionKey"]) + utf16_bytes(entity["RowKey"])
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            continue
        size += 8 + utf16_bytes(name)
        if isinstance(value, str):
            size += 4 + utf16_bytes(value)
        elif isinstance(value, bool):
            size += 1
        else:  # datetime
            size += 8
    return size
