"""Cutting bulk writes into valid entity group transactions, and running per-partition work in parallel.

Why enforced here: a transaction must hold one PartitionKey, at most 100 entities, each entity once, and
a payload of at most 4 MiB ("Performing entity group transactions",
https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions). Azurite checks
less than that, so a batch that passes the tests could fail in Azure.

The payload is estimated, not measured (the multipart body is built inside the SDK): the JSON of the
entity with non-ASCII escaped (the larger encoding), an allowance per property for its `@odata.type`
annotation, and per operation the MIME part headers plus the URL carrying both keys percent-encoded
(at most 9 bytes per character). The limit keeps 64 KiB of headroom for the batch envelope.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Mapping, TypeVar

from shared.store.errors import EntityTooLarge

MAX_BATCH_OPERATIONS = 100
MAX_BATCH_PAYLOAD_BYTES = 4 * 1024 * 1024 - 64 * 1024
_PART_OVERHEAD_BYTES = 1024
DEFAULT_WORKERS = 8  # partitions worked on at once by bulk reads/writes
_TYPE_ANNOTATION_BYTES = 40

Entity = Mapping[str, Any]
K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


def estimated_payload(entity: Entity) -> int:
    """Upper estimate of the bytes one operation on `entity` adds to a transaction request."""
    body = len(json.dumps(entity, default=str))  # ensure_ascii: 6 bytes per escaped character at worst
    keys = 9 * (len(entity["PartitionKey"]) + len(entity["RowKey"]))
    return body + _TYPE_ANNOTATION_BYTES * len(entity) + keys + _PART_OVERHEAD_BYTES


def transactions_by_partition(table: str, entities: Iterable[Entity]) -> dict[str, list[list[Entity]]]:
    """{PartitionKey: [transaction, ...]} in input order; each transaction respects every limit.

    A RowKey seen again within a partition starts a new transaction, so applying the transactions of a
    partition in order gives "last write wins", as single writes would.
    """
    result: dict[str, list[list[Entity]]] = {}
    state: dict[str, tuple[set[str], int]] = {}  # per partition: row keys and payload of the open chunk
    for entity in entities:
        pk, rk = entity["PartitionKey"], entity["RowKey"]
        size = estimated_payload(entity)
        if size > MAX_BATCH_PAYLOAD_BYTES:
            raise EntityTooLarge(table, pk, rk, f"about {size} bytes in a transaction, over the "
                                                f"{MAX_BATCH_PAYLOAD_BYTES}-byte payload we allow")
        chunks = result.setdefault(pk, [])
        row_keys, payload = state.get(pk, (set(), 0))
        if (not chunks or len(chunks[-1]) >= MAX_BATCH_OPERATIONS or rk in row_keys
                or payload + size > MAX_BATCH_PAYLOAD_BYTES):
            chunks.append([])
            row_keys, payload = set(), 0
        chunks[-1].append(entity)
        row_keys.add(rk)
        state[pk] = (row_keys, payload + size)
    return result


def fan_out(func: Callable[[K, V], R], groups: Mapping[K, V], max_workers: int) -> list[R]:
    """`func(key, group)` for every group, up to `max_workers` at a time; results in the groups' order.

    Why threads: each partition costs at least one round trip, and they are independent; the SDK's
    clients are thread-safe. The first exception propagates.
    """
    items = list(groups.items())
    if max_workers <= 1 or len(items) <= 1:
        return [func(key, group) for key, group in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items)),
                            thread_name_prefix="store") as pool:
        return list(pool.map(lambda item: func(*item), items))
