"""The Plytix stand-in's search and filter engine: searchable fields, operators per filter type, the
list-of-lists filter language, and parsing, ordering and paging of a v1 search body.

Why a separate module: product search (sandbox/plytix.py, `POST /api/v1/products/search`) and the small
definition searches (attributes, families, categories) must apply exactly the same validation (422 bodies,
page_size <= 100, the columns limit) and the same matching rules, and those rules are easier to check
against the official Postman collection (/work/shared/reference/plytix_v1.postman_collection.json) when
they are read apart from the HTTP routes. Choices the documentation leaves open are marked UNVERIFIED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Optional

from sandbox.base import HttpError, Request
from sandbox.catalog import FILTER_TYPES, AttributeDef, is_empty, iso

MAX_PAGE_SIZE = 100  # "limited to a maximum of 100 items. A 422 code will be returned" (collection)
DEFAULT_PAGE_SIZE = 25  # "If pagination is omitted 25 items of the first page will be returned"
# "Requests are limited to 50 attributes (plus ID and SKU ...)" (collection, Product search). The same
# collection's 422 example says "current limit is 20": clients keep <= 20; `max_search_attributes` lets a
# test run the stand-in under the stricter reading.
MAX_SEARCH_ATTRIBUTES = 50
ORDER_LIMIT = 10_000  # "428 status code if the filtered results include more than 10000 products and the
#                       order field is filled" (collection, Product search)

Product = dict[str, Any]
Predicate = Callable[[Product], bool]


def _error(status: int, msg: str, errors: Optional[list[dict[str, Any]]] = None,
           headers: Optional[dict[str, str]] = None) -> HttpError:
    """The v1 error body: {"error": {"msg": ..., "errors": [{"field", "msg"}]}} (collection, Handling Errors)."""
    body: dict[str, Any] = {"msg": msg}
    if errors:
        body["errors"] = errors
    return HttpError(status, {"error": body}, headers)


def _invalid(field_name: str, msg: str, general: str = "Search validation error") -> HttpError:
    return _error(422, general, [{"field": field_name, "msg": msg}])


# ---------------------------------------------------------------------------------------------------
# Searchable fields and the filter language
# ---------------------------------------------------------------------------------------------------

# Operators per filter type, as `GET /api/v1/filters/product` lists them in the collection's example.
_TEXT_OPS = ("exists", "!exists", "like", "eq", "!eq")
_NUMBER_OPS = ("exists", "!exists", "eq", "!eq", "gt", "gte", "lt", "lte")
_DATE_OPS = ("exists", "!exists", "eq", "gt", "gte", "lt", "lte")
_DROPDOWN_OPS = ("exists", "!exists", "eq", "!eq", "in", "!in")
_MULTI_OPS = ("exists", "!exists", "in", "!in")
_MEDIA_OPS = ("exists", "!exists")
_OPS_BY_FILTER_TYPE = {"TextAttribute": _TEXT_OPS, "DecimalAttribute": _NUMBER_OPS, "DateAttribute": _DATE_OPS,
                       "DropdownAttribute": _DROPDOWN_OPS, "MultiSelectAttribute": _MULTI_OPS,
                       "MediaAttribute": _MEDIA_OPS, "MediaGalleryAttribute": _MEDIA_OPS,
                       "BooleanAttribute": ("exists", "!exists", "eq")}  # custom booleans: UNVERIFIED
_KIND_BY_FILTER_TYPE = {"TextAttribute": "text", "DecimalAttribute": "number", "DateAttribute": "date",
                        "DropdownAttribute": "enum", "MultiSelectAttribute": "multi", "MediaAttribute": "media",
                        "MediaGalleryAttribute": "media", "BooleanAttribute": "bool"}


@dataclass(frozen=True)
class _Field:
    """One searchable field: its API key, filter type, allowed operators and how to read it."""

    key: str
    filter_type: str
    operators: tuple[str, ...]
    get: Callable[[Any], Any]
    kind: str
    options: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        item: dict[str, Any] = {"filter_type": self.filter_type, "key": self.key, "operators": list(self.operators)}
        if self.options:
            item["options"] = list(self.options)
        return item


def _system(key: str, filter_type: str, operators: tuple[str, ...], kind: str,
            get: Optional[Callable[[Any], Any]] = None) -> _Field:
    return _Field(key, filter_type, operators, get or _key_getter(key), kind)


def _key_getter(key: str) -> Callable[[Any], Any]:
    return lambda item: item.get(key)


def _attribute_getter(label: str) -> Callable[[Any], Any]:
    return lambda product: product["attributes"].get(label)


def _product_fields(attributes: Iterable[AttributeDef], *,
                    rich: bool = False) -> tuple[dict[str, _Field], dict[str, _Field]]:
    """(fields, properties) a product search may filter on and request, keyed by API key: what
    `GET /api/v1/filters/product` lists, and nothing else (a field it does not list is a 422).

    Strict (the default) lists the system fields the collection documents for that endpoint: its example
    response (sku, label, categories, static_lists, assets, images, thumbnail, modified, created, status)
    plus the two its own "System attributes" table adds (gtin, product_level). The table describes what
    the endpoint lists for every account ("All products have a predefined set of system attributes shown
    below"), the example is one account's answer, so the union of the two is the documented listing;
    neither lists `id`, `product_family_id` or `product_type`. `rich` adds those three, as a friendlier
    account might (UNVERIFIED): tests run a client against both."""
    system = [
        _system("sku", "TextAttribute", _TEXT_OPS, "text"),
        _system("label", "TextAttribute", _TEXT_OPS, "text"),
        _system("gtin", "TextAttribute", _TEXT_OPS, "text"),
        _system("status", "DropdownAttribute", ("eq", "in", "!in"), "enum"),
        _system("created", "DateAttribute", _DATE_OPS, "date"),
        _system("modified", "DateAttribute", _DATE_OPS, "date"),
        _system("categories", "MultiSelectAttribute", _MULTI_OPS, "multi"),
        _system("static_lists", "MultiSelectAttribute", ("in",), "multi", lambda p: p.get("static_lists") or []),
        _system("assets", "MediaAttribute", _MEDIA_OPS, "media"),
        _system("images", "MediaAttribute", _MEDIA_OPS, "media", lambda p: p.get("assets")),
        _system("thumbnail", "MediaAttribute", _MEDIA_OPS, "media"),
        # filter type and operators of product_level: UNVERIFIED (the table says "Choices (as integers)")
        _system("product_level", "DecimalAttribute", ("eq", "!eq", "in", "!in", "gt", "gte", "lt", "lte"),
                "number"),
    ]
    if rich:
        system += [
            _system("id", "TextAttribute", ("eq", "!eq", "in", "!in"), "id"),
            _system("product_family_id", "TextAttribute", ("exists", "!exists", "eq", "!eq", "in", "!in"), "id"),
            _system("product_type", "DropdownAttribute", ("eq", "!eq", "in", "!in"), "enum"),
        ]
    fields = {f.key: f for f in system}
    for attr in attributes:
        filter_type = FILTER_TYPES[attr.type_class]
        fields[f"attributes.{attr.label}"] = _Field(
            f"attributes.{attr.label}", filter_type, _OPS_BY_FILTER_TYPE[filter_type],
            _attribute_getter(attr.label), _KIND_BY_FILTER_TYPE[filter_type], attr.options)
    # The collection's example lists these two under "properties"; they count towards the columns limit.
    properties = {f.key: f for f in (
        _system("_is_variation", "BooleanAttribute", ("eq",), "bool", lambda p: p["product_level"] >= 2),
        _system("_has_variations", "BooleanAttribute", ("eq",), "bool", lambda p: p["num_variations"] > 0),
    )}
    return fields, properties


def _canonical_instant(value: Any) -> Optional[str]:
    """A date or datetime as Plytix's canonical string, so instants compare as strings (fast)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive values are UTC (UNVERIFIED)
    return iso(moment)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _comparable(kind: str, value: Any) -> Any:
    """Normalise a stored value for comparisons; None when it cannot be compared."""
    if kind == "number":
        return _number(value)
    if kind == "date":
        return value if isinstance(value, str) and len(value) == 32 else _canonical_instant(value)
    return value


def _compile_condition(cond: Any, fields: dict[str, _Field]) -> Predicate:
    """Turn one {"field","operator","value"} into a predicate; 422 for anything the API would reject."""
    if not isinstance(cond, dict):
        raise _invalid("filters", "every condition must be an object with field, operator and value")
    key, op, value = cond.get("field"), cond.get("operator"), cond.get("value")
    if op == "text_search":
        return _text_search(key, value, fields)
    if not isinstance(key, str) or key not in fields:
        raise _invalid(str(key), "field does not exist")
    spec = fields[key]
    if op not in spec.operators:
        raise _invalid(key, f"operator {op!r} is not allowed for this field; allowed: {list(spec.operators)}")
    get, kind = spec.get, spec.kind
    if op == "exists":
        return lambda p: not is_empty(get(p))
    if op == "!exists":
        return lambda p: is_empty(get(p))
    if value is None:
        raise _invalid(key, f"operator {op!r} needs a value")
    if op in ("in", "!in"):
        if not isinstance(value, list):
            raise _invalid(key, f"operator {op!r} needs a list value")
        wanted = set(value)  # "Multiselect and Dropdown attributes are case sensitive" (collection)
        def any_wanted(p: Product) -> bool:
            return any(v in wanted for v in (get(p) or ()))

        def is_wanted(p: Product) -> bool:
            return get(p) in wanted

        positive: Predicate = any_wanted if kind == "multi" else is_wanted
        # Negations match products without a value too (UNVERIFIED).
        return positive if op == "in" else (lambda p: not positive(p))
    if op == "like":
        needle = str(value).casefold()  # "Check if supplied string is contained within value"; case: UNVERIFIED
        return lambda p: isinstance(v := get(p), str) and needle in v.casefold()
    if op in ("eq", "!eq"):
        positive = _equality(key, kind, value, get)
        return positive if op == "eq" else (lambda p: not positive(p))
    return _ordering(key, kind, op, value, get)


def _equality(key: str, kind: str, value: Any, get: Callable[[Any], Any]) -> Predicate:
    if kind == "number":
        target = _number(value)
        if target is None:
            raise _invalid(key, "value must be a number")
        return lambda p: _number(get(p)) == target
    if kind == "date":
        if isinstance(value, str) and len(value) == 10:  # a date: the same UTC day (UNVERIFIED)
            if _canonical_instant(value) is None:
                raise _invalid(key, "value must be an ISO 8601 date")
            return lambda p: (day := _comparable("date", get(p))) is not None and day[:10] == value
        instant = _canonical_instant(value)
        if instant is None:
            raise _invalid(key, "value must be an ISO 8601 date or datetime")
        return lambda p: _comparable("date", get(p)) == instant
    if kind == "bool":
        if not isinstance(value, bool):
            raise _invalid(key, "value must be true or false")
        return lambda p: get(p) is value
    folded = str(value).casefold()  # "When applied to a text value, the comparison ignores case"
    return lambda p: isinstance(v := get(p), str) and v.casefold() == folded


def _ordering(key: str, kind: str, op: str, value: Any, get: Callable[[Any], Any]) -> Predicate:
    # Filter values are always parsed; only stored values take _comparable's canonical-string shortcut.
    target = _canonical_instant(value) if kind == "date" else _comparable(kind, value)
    if target is None:
        raise _invalid(key, f"value has no meaning for operator {op!r}")
    compare = {"gt": lambda a: a > target, "gte": lambda a: a >= target,
               "lt": lambda a: a < target, "lte": lambda a: a <= target}[op]
    return lambda p: (v := _comparable(kind, get(p))) is not None and compare(v)


def _text_search(keys: Any, value: Any, fields: dict[str, _Field]) -> Predicate:
    """`text_search`: "Item list must be provided as field value" (collection)."""
    if not isinstance(keys, list) or not keys:
        raise _invalid("text_search", "field must be a non-empty list of fields")
    if not isinstance(value, str) or not value:
        raise _invalid("text_search", "value must be a non-empty string")
    getters = []
    for key in keys:
        if key not in fields or fields[key].kind not in ("text", "enum"):
            raise _invalid(str(key), "field does not exist or is not a text field")
        getters.append(fields[key].get)
    needle = value.casefold()
    return lambda p: any(isinstance(v := g(p), str) and needle in v.casefold() for g in getters)


def _compile_filters(filters: Any, fields: dict[str, _Field]) -> Optional[Predicate]:
    """Inner lists are ANDed, the outer list ORs them; None means "everything"."""
    if filters in (None, []):
        return None
    if not isinstance(filters, list) or not all(isinstance(group, list) for group in filters):
        raise _invalid("filters", "filters must be a list of lists of conditions")
    groups = [[_compile_condition(c, fields) for c in group] for group in filters]
    if any(not group for group in groups):
        return None  # an empty AND-group is true for every product
    if len(groups) == 1 and len(groups[0]) == 1:
        return groups[0][0]
    return lambda p: any(all(c(p) for c in group) for group in groups)


@dataclass(frozen=True)
class _SearchRequest:
    filters_key: str
    predicate: Optional[Predicate]
    columns: tuple[str, ...]
    page: int
    page_size: int
    order: Optional[str]
    order_echo: Any


def _parse_search(req: Request, fields: dict[str, _Field], columns: set[str], max_columns: int) -> _SearchRequest:
    body = req.json() if req.body else {}
    if not isinstance(body, dict):
        raise _invalid("body", "the search body must be a JSON object")
    if body.get("relationship_filters"):
        raise _invalid("relationship_filters", "relationship filters are not modelled by the sandbox")
    filters = body.get("filters")
    predicate = _compile_filters(filters, fields)
    requested = body.get("attributes") or []
    if not isinstance(requested, list) or not all(isinstance(c, str) for c in requested):
        raise _invalid("attributes", "attributes must be a list of strings")
    chosen = tuple(dict.fromkeys(c for c in requested if c not in ("id", "sku")))
    if len(chosen) > max_columns:
        # The collection's 422 example for this case.
        raise _error(422, "Schema validation error",
                     [{"field": "schema", "msg": f"columns limit exceeded, current limit is {max_columns}"}])
    unknown = [c for c in chosen if c not in columns]
    if unknown:
        raise _error(422, "Search validation error",
                     [{"field": c, "msg": "attribute does not exist"} for c in unknown])
    pagination = body.get("pagination") or {}
    if not isinstance(pagination, dict):
        raise _invalid("pagination", "pagination must be an object")
    page = 1 if pagination.get("page") is None else pagination["page"]
    page_size = DEFAULT_PAGE_SIZE if pagination.get("page_size") is None else pagination["page_size"]
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise _invalid("pagination.page", "page must be an integer >= 1")
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise _invalid("pagination.page_size", f"page_size must be an integer between 1 and {MAX_PAGE_SIZE}")
    order = pagination.get("order")
    if order not in (None, "") and (not isinstance(order, str) or order.lstrip("-") not in fields
                                    or fields[order.lstrip("-")].kind in ("media", "multi")):
        raise _invalid("pagination.order", f"cannot order by {order!r}")
    return _SearchRequest(json.dumps(filters, sort_keys=True), predicate, chosen, page, page_size,
                          order or None, pagination.get("order", ""))


def _sorted(items: list[Any], order: Optional[str], fields: dict[str, _Field]) -> list[Any]:
    """Stable sort by one field ("-" = descending); items without a value go last either way."""
    if not order:
        return items
    spec = fields[order.lstrip("-")]
    keyed = [(_comparable(spec.kind, spec.get(item)), item) for item in items]
    present = [pair for pair in keyed if pair[0] is not None and not is_empty(pair[0])]
    missing = [item for value, item in keyed if value is None or is_empty(value)]
    present.sort(key=lambda pair: pair[0], reverse=order.startswith("-"))
    return [item for _, item in present] + missing


def _page(items: list[Any], query: _SearchRequest) -> list[Any]:
    start = (query.page - 1) * query.page_size
    return items[start:start + query.page_size]


def _pagination(query: _SearchRequest, count: int, total: int) -> dict[str, Any]:
    return {"count": count, "order": query.order_echo, "page": query.page, "page_size": query.page_size,
            "total_count": total}
