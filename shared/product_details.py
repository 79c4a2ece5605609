"""Family and level for the products that need them, from the family cache or `GET /products/{id}`.

Why: a product search does not give the family (the account's filter listing does not name
`product_family_id`, and a client run against the live API saw it come back empty even when requested;
API_FACTS.md, "What search really returns"), and it gives the level only where `product_level` is listed.
Rules select, route and group by family, so the family must come from the one path that has it, a GET
per product. That is one call per product, so it is spent only where it changes something:
- the search hit lacks the family or the level (a value that came back is used; one that did not come
  back is never assumed, and an empty family from a search counts as "not given");
- and a rule selects by family or level and the rest of its selector matches, or the product has a
  finding (a finding's task is routed by family, grouped per rule and family, and may name it).
The answer is cached in Table Storage with the product's `modified` (shared/store/families.py), so the
product is read again only after it changed: a pass over an unchanged catalog costs no extra call.
UNVERIFIED: whether assigning a family (`POST /products/{id}/family`) moves `modified`; if it does not,
a re-assigned family is seen once the product is next edited.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from shared.plytix import NotFound, PlytixClient
from shared.rules import ProductView, Rule
from shared.rules.config import SelectorConfig
from shared.rules.product_view import DETAILS_READ
from shared.store import FamilyCacheStore, FamilyEntry


def lacks_details(product: dict[str, Any]) -> bool:
    """True when the product dict does not say its family or its level (and no GET has been merged in)."""
    if product.get(DETAILS_READ):
        return False
    level = product.get("product_level")
    level_known = (isinstance(level, int) and not isinstance(level, bool)) or bool(product.get("product_type"))
    return not product.get("product_family_id") or not level_known


def selection_needs_details(rules: Iterable[Rule], view: ProductView) -> bool:
    """Does a rule's choice of this product hang on a family or level the view does not know? True when
    a rule selects by that key and the rest of its selector matches (an archived product is not looked
    at by a family rule whatever its family, so it costs no call). A rule that compares families itself
    (job 6: duplicate labels within a family, a variant's family against its parent's) says so through
    `needs_family(view)`."""
    for rule in rules:
        needs_family = getattr(rule, "needs_family", None)
        if needs_family is not None and not view.family_known and needs_family(view):
            return True
        selector = getattr(getattr(rule, "config", None), "select", None)
        if not isinstance(selector, SelectorConfig):
            continue
        unknown = {"families": view.family_id is None and selector.families is not None,
                   "levels": view.level is None and selector.levels is not None}
        if any(unknown.values()) and selector.model_copy(update={"families": None, "levels": None}).matches(view):
            return True
    return False


class DetailResolver:
    """Completes product dicts with family and level; counts what it did for reports and benches."""

    def __init__(self, plytix: PlytixClient, cache: Optional[FamilyCacheStore], *, write: bool = True) -> None:
        """`write=False` (a dry run) reads the cache but stores nothing."""
        self._plytix = plytix
        self._cache = cache
        self._write = write
        self.cache_hits = 0
        self.reads = 0  # GET /products/{id} calls

    def complete(self, product: dict[str, Any]) -> dict[str, Any]:
        """The product with family and level merged in: from the cache when it was read at the same
        `modified`, else from a GET (then cached). A product deleted meanwhile is returned unchanged."""
        product_id = str(product.get("id"))
        modified = product.get("modified")
        entry = self._cache.lookup(product_id, modified) if self._cache is not None and modified else None
        if entry is not None:
            self.cache_hits += 1
        else:
            try:
                self.reads += 1
                full = self._plytix.get_product(product_id, all_attributes=False)
            except NotFound:
                return product
            entry = entry_from(full)
            if self._cache is not None and self._write and entry.modified:
                self._cache.put(entry)
        merged = dict(product)
        for name, value in entry.fields().items():
            if merged.get(name) in (None, ""):
                merged[name] = value
        merged[DETAILS_READ] = True
        return merged


def entry_from(product: dict[str, Any]) -> FamilyEntry:
    """The cache entry for a product as `GET /products/{id}` returned it."""
    level = product.get("product_level")
    return FamilyEntry(product_id=str(product["id"]), modified=str(product.get("modified") or ""),
                       family_id=product.get("product_family_id") or None,
                       level=level if isinstance(level, int) and not isinstance(level, bool) else None,
                       product_type=product.get("product_type") or None)


def read_by_get(product: dict[str, Any]) -> dict[str, Any]:
    """Mark a product that came from `GET /products/{id}`: its family and level are its own."""
    return {**product, DETAILS_READ: True}


__all__ = ["DETAILS_READ", "DetailResolver", "entry_from", "lacks_details", "read_by_get",
           "selection_needs_details"]
