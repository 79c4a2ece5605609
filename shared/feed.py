"""The one product feed every rule reads (DESIGN.md "One product feed for every rule").

Why one feed: rules share a pass over the catalog, so Plytix is read once per pass, not once per rule,
with the union of the attributes the enabled rules need. Plytix caps a search at <= 20 requested
attributes (API_FACTS.md: the docs say 50 in one place and 20 in another; we keep to 20). When the union
is larger, the first chunk pages through the catalog and each further chunk is fetched for exactly the
products of that page (`id in [...]`, <= 100 ids, or one `sku eq` OR-group per product where `id` is not
listed), which does not depend on Plytix keeping a stable order between two separate paged queries.

Only what the account's `GET /api/v1/filters/product` lists is requested or filtered on
(shared/plytix/schema.py): a column it does not list would be a 422. Where `id` is not a listed filter
field (the documented listing does not name it), lookups by id fall back to `GET /products/{id}`, one
call per product, which also gives the family and level that search does not.

Passes:
- `full_sweep`: every product (no filter, no `order`: ordering more than 10,000 matches answers 428);
- `changed_since(watermark)`: products with `modified` after the watermark, for the incremental pass;
- `by_ids(ids)`: given products, e.g. those a sweep did not return although tasks are about them.
All stream page by page: memory stays flat as the catalog grows.
"""

from __future__ import annotations

import time
import weakref
from datetime import datetime
from typing import Any, Iterable, Iterator, Optional, Sequence

from shared.plytix import NotFound, PlytixClient, SearchSchema, search_schema
from shared.product_details import read_by_get
from shared.rules import AccountMismatch, RulesFile, check_against_account
from shared.rules.product_view import PRODUCT_FIELDS

MAX_ATTRIBUTES_PER_SEARCH = 20
PAGE_SIZE = 100
FAMILIES_MAX_AGE_SECONDS = 15 * 60
_families_cache: "weakref.WeakKeyDictionary[PlytixClient, tuple[float, dict[str, str]]]" = weakref.WeakKeyDictionary()


def search_fields(attribute_labels: Iterable[str], extra_fields: Sequence[str] = ("modified",)) -> list[str]:
    """System fields the views need, then custom attributes as `attributes.<label>` (sorted: stable calls)."""
    system = list(dict.fromkeys([*PRODUCT_FIELDS, *extra_fields]))
    return system + [f"attributes.{label}" for label in sorted(set(attribute_labels))]


def created_window(lower: Optional[datetime], upper: datetime) -> list[dict[str, Any]]:
    """The AND-conditions of `lower <= created < upper` (no lower bound: everything older)."""
    conditions = [{"field": "created", "operator": "lt", "value": upper.isoformat()}]
    if lower is not None:
        conditions.append({"field": "created", "operator": "gte", "value": lower.isoformat()})
    return conditions


def chunk_fields(fields: Sequence[str], size: int = MAX_ATTRIBUTES_PER_SEARCH) -> list[list[str]]:
    return [list(fields[i:i + size]) for i in range(0, len(fields), size)] or [[]]


class ProductFeed:
    """Streams products with the requested attributes; counts nothing itself (the client does)."""

    def __init__(self, plytix: PlytixClient, extra_fields: Sequence[str] = ("modified",)) -> None:
        self.plytix = plytix
        self.extra_fields = tuple(extra_fields)  # system fields beyond the views' (event rules add `created`)

    def families(self) -> dict[str, str]:
        """Family id -> name (rules select by family name). Kept per client for FAMILIES_MAX_AGE_SECONDS: an
        incremental pass runs every few minutes, and re-reading families each time would double its cost
        for names that change a few times a year."""
        now = time.monotonic()
        cached = _families_cache.get(self.plytix)
        if cached is not None and now - cached[0] < FAMILIES_MAX_AGE_SECONDS:
            return dict(cached[1])
        families = {f["id"]: f.get("name") or f["id"] for f in self.plytix.list_families()}
        _families_cache[self.plytix] = (now, families)
        return dict(families)

    def schema(self) -> SearchSchema:
        """The account's searchable fields (cached per client, see shared/plytix/schema.py)."""
        return search_schema(self.plytix)

    def check_rules(self, rules_file: RulesFile, rule_ids: Optional[Iterable[str]] = None) -> None:
        """Raise AccountMismatch when the (enabled, or given) rules name attributes the account does not
        list. A mismatch is checked once more against a fresh listing before it counts: an attribute
        someone has just added in Plytix must not wait out the listing's cache."""
        try:
            check_against_account(rules_file, self.schema().attribute_labels, rule_ids=rule_ids)
        except AccountMismatch:
            fresh = search_schema(self.plytix, max_age=0)
            check_against_account(rules_file, fresh.attribute_labels, rule_ids=rule_ids)

    def full_sweep(self, attribute_labels: Iterable[str]) -> Iterator[dict[str, Any]]:
        return self._stream([], attribute_labels, order=None)

    def changed_since(self, watermark_iso: str, attribute_labels: Iterable[str]) -> Iterator[dict[str, Any]]:
        return self._stream([[{"field": "modified", "operator": "gt", "value": watermark_iso}]],
                            attribute_labels, order=None)

    def created_between(self, lower: datetime, upper: datetime,
                        attribute_labels: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Products created in [lower, upper): one window of a segmented sweep (shared/sweep.py)."""
        return self._stream([created_window(lower, upper)], attribute_labels, order=None)

    def by_ids(self, product_ids: Iterable[str], attribute_labels: Iterable[str]) -> Iterator[dict[str, Any]]:
        """These products (those that still exist): 100 ids per search where the account lists `id` as a
        filter field with `in`, else one `GET /products/{id}` each."""
        ids, labels = sorted(set(product_ids)), set(attribute_labels)
        if not self._searchable_by_id():
            yield from self._get_each(ids)
            return
        for start in range(0, len(ids), PAGE_SIZE):
            chunk = ids[start:start + PAGE_SIZE]
            yield from self._stream([[{"field": "id", "operator": "in", "value": chunk}]], labels, order=None)

    def _searchable_by_id(self) -> bool:
        return self.schema().allows("id", "in")

    def _get_each(self, ids: Iterable[str]) -> Iterator[dict[str, Any]]:
        """`GET /products/{id}` per id (every non-empty attribute comes back); deleted ones are skipped."""
        for product_id in ids:
            try:
                yield read_by_get(self.plytix.get_product(product_id, all_attributes=False))
            except NotFound:
                continue

    def _stream(self, filters: list, attribute_labels: Iterable[str], order: str | None) -> Iterator[dict[str, Any]]:
        first, *rest = chunk_fields(self.schema().listed(search_fields(attribute_labels, self.extra_fields)))
        for page in self.plytix.search_pages(filters, first, page_size=PAGE_SIZE, order=order):
            if rest and page:
                self._complete(page, rest)
            yield from page

    def _complete(self, page: list[dict[str, Any]], chunks: list[list[str]]) -> None:
        """Fetch the remaining attribute chunks for exactly this page's products and merge them in by id.
        The page is addressed by `id in [...]` where the account lists it, else by one OR-group per SKU
        (`sku eq`: inner lists are ORed; `eq` ignores case, so a case variant of a SKU may come back too
        and is dropped by the id match), else each product is read whole by GET."""
        by_id = {p["id"]: p for p in page}
        schema = self.schema()
        if schema.allows("id", "in"):
            filters: list = [[{"field": "id", "operator": "in", "value": list(by_id)}]]
        elif schema.allows("sku", "eq") and all(p.get("sku") for p in page):
            filters = [[{"field": "sku", "operator": "eq", "value": p["sku"]}] for p in page]
        else:
            for full in self._get_each(list(by_id)):
                target = by_id[full["id"]]
                attributes = {**(target.get("attributes") or {}), **(full.get("attributes") or {})}
                target.update(full, attributes=attributes)
            return
        for fields in chunks:
            for extra in self.plytix.search(filters, fields, page_size=PAGE_SIZE):
                listed = by_id.get(extra["id"])
                if listed is not None:
                    listed.setdefault("attributes", {}).update(extra.get("attributes") or {})
