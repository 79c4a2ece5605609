"""What this Plytix account lets a product search filter on and request: `GET /api/v1/filters/product`.

Why read it instead of assuming: the official collection says the listing's "'key' value is what MUST be
used in requests" and that requesting anything else is a 422. Its example lists only sku, label,
categories, static_lists, assets, images, thumbnail, modified, created and status besides the custom
`attributes.<label>` keys (its docs table adds gtin and product_level): not `id`, `product_family_id` or
`product_type`, which a client might otherwise take for granted (API_FACTS.md, "What search really
returns"). So the feed requests only listed columns and filters only on listed fields, and the rules are
checked against the listed custom attributes before a scan starts.

The listing changes when someone adds an attribute, a few times a year: it is kept per client for
SCHEMA_MAX_AGE_SECONDS, as the family names are, so a pass every few minutes does not pay a call for it.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from shared.plytix.client import PlytixClient

ATTRIBUTE_PREFIX = "attributes."
SCHEMA_MAX_AGE_SECONDS = 15 * 60
_cache: "weakref.WeakKeyDictionary[PlytixClient, tuple[float, SearchSchema]]" = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class SearchSchema:
    """The searchable fields of an account: API key -> the operators it allows."""

    operators: Mapping[str, frozenset[str]]

    @classmethod
    def from_listing(cls, listing: Mapping[str, Any]) -> "SearchSchema":
        """From `data[0]` of the answer: {"attributes": [{"key", "operators", ...}], "properties": [...]}.
        Entries without a string key are skipped: an odd entry must not hide every other field."""
        operators: dict[str, frozenset[str]] = {}
        for group in ("attributes", "properties"):
            for item in listing.get(group) or ():
                if isinstance(item, Mapping) and isinstance(item.get("key"), str) and item["key"]:
                    operators[item["key"]] = frozenset(op for op in item.get("operators") or () if isinstance(op, str))
        return cls(operators)

    def lists(self, key: str) -> bool:
        """May a search request this column (or filter on this field)?"""
        return key in self.operators

    def allows(self, key: str, operator: str) -> bool:
        return operator in self.operators.get(key, frozenset())

    def listed(self, keys: Iterable[str]) -> list[str]:
        """The keys this account lists, in the given order; the rest would be a 422."""
        return [key for key in keys if key in self.operators]

    @property
    def attribute_labels(self) -> frozenset[str]:
        """The account's custom attribute labels (`attributes.<label>` keys without the prefix)."""
        return frozenset(key[len(ATTRIBUTE_PREFIX):] for key in self.operators if key.startswith(ATTRIBUTE_PREFIX))


def search_schema(client: "PlytixClient", *, max_age: float = SCHEMA_MAX_AGE_SECONDS) -> SearchSchema:
    """The account's listing, read at most once per `max_age` seconds per client."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(client)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    schema = SearchSchema.from_listing(client.product_filters())
    with _cache_lock:
        _cache[client] = (now, schema)
    return schema
