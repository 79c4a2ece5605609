"""One normalised, read-only view of a Plytix product: the only shape rules read.

Why: Plytix product dicts vary with how they were fetched (search returns only requested attributes and
omits or nulls empty ones; the family is an id; the level is a number, the type a word). Normalising once
here keeps every rule free of those details and lets the feed build the view once per product per pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Optional

DEFAULT_STAGE_ATTRIBUTE = "workflow_stage"

# product_level: 0 single, 1 parent, 2 variant, 3 sub-variant; product_type: SINGLE/PARENT/VARIANT
# (API_FACTS.md, Plytix product fields).
LEVEL_NAMES: dict[int, str] = {0: "single", 1: "parent", 2: "variant", 3: "sub_variant"}
_TYPE_LEVELS: dict[str, str] = {"SINGLE": "single", "PARENT": "parent", "VARIANT": "variant"}

# The system fields from_plytix reads besides `attributes`: a product search must ask for them too.
# Set on a product dict whose family and level came from a GET (shared/product_details.py): what it says
# is the product's, even an empty family.
DETAILS_READ = "_details_read"

PRODUCT_FIELDS: tuple[str, ...] = ("sku", "label", "status", "product_family_id", "product_type",
                                   "product_level", "categories")


@dataclass(frozen=True)
class ProductView:
    """What rules may read about a product. `stage` is the workflow-stage Dropdown attribute's value
    (NOT the system `status`, which only knows Draft/Completed/Archived)."""

    id: str
    sku: str
    label: str
    status: str
    stage: Optional[str]
    level: Optional[str]  # single | parent | variant | sub_variant; None when the product did not say
    family_id: Optional[str]
    family_name: Optional[str]
    category_paths: tuple[tuple[str, ...], ...]  # e.g. (("Home", "Kitchen"),)
    attributes: Mapping[str, Any]  # label -> value, read-only
    gtin: str = ""  # system field, when the search asked for it (the data_quality rule does)
    parent_id: Optional[str] = None  # a variant's parent (`_parent_id`, in every search hit of a variant)
    static_lists: tuple[str, ...] = ()  # ids of the static lists holding the product, when requested
    family_known: bool = False  # the family is the product's (given, or read by GET), not merely unknown

    @property
    def family(self) -> Optional[str]:
        """The family as people know it: its name, else its id (a family the caller had no name for)."""
        return self.family_name or self.family_id

    def in_category(self, path: tuple[str, ...]) -> bool:
        """True when one of the product's categories is `path` or lies below it (("Home",) covers
        ("Home", "Kitchen"))."""
        return any(own[: len(path)] == path for own in self.category_paths)

    @classmethod
    def from_plytix(cls, product: Mapping[str, Any], families: Mapping[str, str], *,
                    stage_attribute: str = DEFAULT_STAGE_ATTRIBUTE) -> "ProductView":
        """Build the view from a product dict as Plytix returns it; `families` maps family id -> name."""
        product_id = product.get("id")
        if not isinstance(product_id, str) or not product_id:
            raise ValueError("a Plytix product needs a non-empty string 'id'")
        attributes = dict(product.get("attributes") or {})
        family_id = product.get("product_family_id") or None
        stage = attributes.get(stage_attribute)
        return cls(
            id=product_id,
            sku=str(product.get("sku") or ""),
            label=str(product.get("label") or ""),
            status=str(product.get("status") or ""),
            stage=stage.strip() if isinstance(stage, str) and stage.strip() else None,
            level=_level(product),
            family_id=family_id,
            family_name=families.get(family_id) if family_id else None,
            category_paths=tuple(path for path in map(_category_path, product.get("categories") or ()) if path),
            attributes=MappingProxyType(attributes),
            gtin=str(product.get("gtin") or ""),
            parent_id=str(product.get("_parent_id") or "") or None,
            static_lists=_list_ids(product.get("static_lists")),
            family_known=bool(family_id) or bool(product.get(DETAILS_READ)),
        )


def _level(product: Mapping[str, Any]) -> Optional[str]:
    level = product.get("product_level")
    if isinstance(level, int) and level in LEVEL_NAMES:
        return LEVEL_NAMES[level]
    return _TYPE_LEVELS.get(str(product.get("product_type") or "").upper())


def _category_path(category: Any) -> tuple[str, ...]:
    """A category's path from the root; falls back to its name when Plytix sent no path."""
    if not isinstance(category, Mapping):
        return ()
    path = category.get("path") or ([category["name"]] if category.get("name") else [])
    return tuple(str(part) for part in path)


def _list_ids(lists: Any) -> tuple[str, ...]:
    """Static lists as ids, whether Plytix sent ids or {id, name} objects."""
    ids = [item.get("id") if isinstance(item, Mapping) else item for item in (lists or ())]
    return tuple(str(i) for i in ids if i)
