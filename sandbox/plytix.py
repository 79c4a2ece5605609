"""A local stand-in for the Plytix PIM API v1 (and its auth endpoint), behaving as API_FACTS.md and the
official Postman collection (/work/shared/reference/plytix_v1.postman_collection.json) describe.

Why it exists: the client, the change feed and the demo must meet the real service's rules (no list
endpoint, list-of-lists filters, page_size <= 100, 428 on sorted queries over 10,000 matches, 15-minute
tokens, two rate-limit windows, omitted empty attributes, trailing-slash redirects) long before anyone
has a Plytix account, and tests need to inject the failures the real service has only on bad days.
The stand-in was written from the documentation, not from what our client sends: where a behaviour is
undocumented the choice is marked UNVERIFIED and made so that a correct client works either way.

The seeded catalog (families, attribute labels and types, workflow stages, seeded gaps) is described in
`sandbox/catalog.py`. Endpoint names for fault injection and call counting (see sandbox/base.py):
    plytix.token, plytix.search, plytix.get_product, plytix.create_product, plytix.patch_product,
    plytix.delete_product, plytix.filters, plytix.attributes, plytix.families, plytix.get_family,
    plytix.family_attributes, plytix.categories, plytix.create_category, plytix.trailing_slash

Admin API (never rate limited, never faulted), also available as Python methods for in-process tests:
    GET   /_sandbox/products        every raw record (?limit=N)                    products()
    GET   /_sandbox/products/{id}   raw record with all fields plus `_history`     product(), history()
    PATCH /_sandbox/products/{id}   {"attributes","status","label"}: an edit made in the Plytix UI
                                    (validated like the API, bumps `modified`)     edit_product()
    POST  /_sandbox/config          {"token_lifetime","rate_per_10s","rate_per_hour","retry_after",
                                     "deprecated": {endpoint name: header value}}  configure()
    POST  /_sandbox/tokens/expire   every issued token expires now                 expire_tokens()
    GET   /_sandbox/stats           tokens issued, 401s, 429s, writes, calls       stats()
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import secrets
import time
from collections import OrderedDict, defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlencode

from sandbox.base import App, HttpError, Request, Response, RunningServer
from sandbox.catalog import (FILTER_TYPES, STATUSES, AttributeDef, Category, build_catalog, completeness,
                             is_empty, iso)

DEV_API_KEY = "sandbox-api-key"
DEV_API_PASSWORD = "sandbox-api-password"

MAX_PAGE_SIZE = 100  # "limited to a maximum of 100 items. A 422 code will be returned" (collection)
DEFAULT_PAGE_SIZE = 25  # "If pagination is omitted 25 items of the first page will be returned"
# "Requests are limited to 50 attributes (plus ID and SKU ...)" (collection, Product search). The same
# collection's 422 example says "current limit is 20": clients keep <= 20; `max_search_attributes` lets a
# test run the stand-in under the stricter reading.
MAX_SEARCH_ATTRIBUTES = 50
ORDER_LIMIT = 10_000  # "428 status code if the filtered results include more than 10000 products and the
#                       order field is filled" (collection, Product search)
TOKEN_RATE_PER_SECOND = 8  # the token endpoint's own limit, "about 8 requests/second" (API_FACTS.md)

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
    return _Field(key, filter_type, operators, get or (lambda item, k=key: item.get(k)), kind)


def _product_fields(attributes: Iterable[AttributeDef]) -> tuple[dict[str, _Field], dict[str, _Field]]:
    """(fields, properties) a product search may filter on, keyed by API key."""
    fields = {f.key: f for f in (
        # `id`, `product_family_id`, `product_type` and `product_level` are not in the collection's filter
        # listing; the brief asks for them and their operator sets are UNVERIFIED.
        _system("id", "TextAttribute", ("eq", "!eq", "in", "!in"), "id"),
        _system("sku", "TextAttribute", _TEXT_OPS, "text"),
        _system("label", "TextAttribute", _TEXT_OPS, "text"),
        _system("gtin", "TextAttribute", _TEXT_OPS, "text"),
        _system("status", "DropdownAttribute", ("eq", "in", "!in"), "enum"),
        _system("created", "DateAttribute", _DATE_OPS, "date"),
        _system("modified", "DateAttribute", _DATE_OPS, "date"),
        _system("categories", "MultiSelectAttribute", _MULTI_OPS, "multi"),
        _system("assets", "MediaAttribute", _MEDIA_OPS, "media"),
        _system("images", "MediaAttribute", _MEDIA_OPS, "media", lambda p: p.get("assets")),
        _system("thumbnail", "MediaAttribute", _MEDIA_OPS, "media"),
        _system("product_family_id", "TextAttribute", ("exists", "!exists", "eq", "!eq", "in", "!in"), "id"),
        _system("product_type", "DropdownAttribute", ("eq", "!eq", "in", "!in"), "enum"),
        _system("product_level", "DecimalAttribute", ("eq", "!eq", "in", "!in", "gt", "gte", "lt", "lte"),
                "number"),
    )}
    for attr in attributes:
        filter_type = FILTER_TYPES[attr.type_class]
        fields[f"attributes.{attr.label}"] = _Field(
            f"attributes.{attr.label}", filter_type, _OPS_BY_FILTER_TYPE[filter_type],
            lambda p, label=attr.label: p["attributes"].get(label), _KIND_BY_FILTER_TYPE[filter_type], attr.options)
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
        if kind == "multi":
            positive: Predicate = lambda p: any(v in wanted for v in (get(p) or ()))
        else:
            positive = lambda p: get(p) in wanted
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
            return lambda p: (v := _comparable("date", get(p))) is not None and v[:10] == value
        target = _canonical_instant(value)
        if target is None:
            raise _invalid(key, "value must be an ISO 8601 date or datetime")
        return lambda p: _comparable("date", get(p)) == target
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


# ---------------------------------------------------------------------------------------------------
# Tokens and rate limits
# ---------------------------------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class _TokenIssuer:
    """HS256 JWT-shaped tokens; the issuer remembers each token's expiry so it can expire them all."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self, lifetime: float) -> str:
        now = time.time()
        jti = secrets.token_hex(12)
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({"sub": "sandbox-account", "type": "access", "jti": jti,
                                      "iat": now, "exp": now + lifetime}).encode())
        signature = _b64url(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        self._expiry = {k: v for k, v in self._expiry.items() if v > now - 3600}
        self._expiry[jti] = now + lifetime
        self.issued += 1
        return f"{header}.{payload}.{signature}"

    def problem(self, token: str) -> Optional[str]:
        """Why `token` is not acceptable, or None when it is."""
        parts = token.split(".")
        if len(parts) != 3:
            return "Invalid token"
        expected = _b64url(hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return "Invalid token"
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return "Invalid token"
        expiry = self._expiry.get(claims.get("jti"), 0.0)
        return "Token has expired" if time.time() >= expiry else None

    def expire_all(self) -> None:
        now = time.time()
        self._expiry = {k: min(v, now) for k, v in self._expiry.items()}


class _FixedWindow:
    """A fixed window counter: "all subsequent requests to the API will return an 429 error code until
    the time interval expires" and "every single request counts as a hit" (collection, API Limits)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._started: Optional[float] = None
        self._hits = 0

    def hit(self, limit: int, now: float) -> Optional[float]:
        """Count one hit; return the seconds until the window frees when over `limit`, else None."""
        if self._started is None or now >= self._started + self.seconds:
            self._started, self._hits = now, 0
        self._hits += 1
        return None if self._hits <= limit else self._started + self.seconds - now


@dataclass
class SandboxConfig:
    """Run-time switches (POST /_sandbox/config)."""

    token_lifetime: float = 900.0  # "Token lives 15 minutes (exp-iat = 900 s)"
    rate_per_10s: Optional[int] = None
    rate_per_hour: Optional[int] = None
    retry_after: bool = False  # whether 429s carry Retry-After: UNVERIFIED for the real API
    deprecated: dict[str, str] = field(default_factory=dict)  # endpoint name -> X-Plytix-Deprecation value

    def update(self, changes: dict[str, Any]) -> None:
        """Validate every change first, then apply them all (ValueError names the bad one)."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        for name, value in changes.items():
            if name == "token_lifetime" and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                             or value < 0):
                raise ValueError("token_lifetime must be a number >= 0")
            if name in ("rate_per_10s", "rate_per_hour") and value is not None and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be null or an integer >= 1")
            if name == "retry_after" and not isinstance(value, bool):
                raise ValueError("retry_after must be true or false")
            if name == "deprecated" and (not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
                raise ValueError("deprecated must map endpoint names to header values")
        for name, value in changes.items():
            setattr(self, name, float(value) if name == "token_lifetime" else value)


# ---------------------------------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------------------------------

_PRODUCT_ID = r"(?P<product_id>(?!search$)[^/]+)"
_SYSTEM_COLUMNS = ("label", "status", "created", "modified", "gtin", "categories", "assets", "thumbnail",
                   "product_family_id", "product_family_model_id", "product_type", "product_level",
                   "num_variations", "_parent_id")
_STATUS_MSG = "Value is not valid, valid values are [Draft, Completed, Archived]"  # the collection's 422


class PlytixSandbox:
    """The Plytix stand-in: a seeded catalog behind `app` (serve it with sandbox.base.RunningServer)."""

    def __init__(self, *, products: int = 200, seed: int = 7, token_lifetime: float = 900,
                 rate_per_10s: Optional[int] = None, rate_per_hour: Optional[int] = None, gap_rate: float = 0.1,
                 order_limit: int = ORDER_LIMIT, max_search_attributes: int = MAX_SEARCH_ATTRIBUTES,
                 rate_windows: tuple[float, float] = (10.0, 3600.0)) -> None:
        """`order_limit` and `rate_windows` exist so tests can reach the 428 and both 429 windows with a
        small catalog and in a fraction of a second; their defaults are the real service's."""
        # The seed: definitions (attributes, families, categories, assets) are read from it for good;
        # products live in self._products from here on (read them with products()/product()).
        self.catalog = build_catalog(products, seed, gap_rate)
        self.config = SandboxConfig(token_lifetime=float(token_lifetime), rate_per_10s=rate_per_10s,
                                    rate_per_hour=rate_per_hour)
        self.order_limit = order_limit
        self.max_search_attributes = max_search_attributes
        self.app = App("plytix")
        self._products: dict[str, Product] = {p["id"]: p for p in self.catalog.products}
        self._by_sku = {p["sku"]: p["id"] for p in self.catalog.products}
        self._history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._fields, self._properties = _product_fields(self.catalog.attributes.values())
        self._filterable = {**self._fields, **self._properties}
        self._columns = set(_SYSTEM_COLUMNS) | {f"attributes.{label}" for label in self.catalog.attributes}
        self._tokens = _TokenIssuer()
        self._windows = (_FixedWindow(rate_windows[0]), _FixedWindow(rate_windows[1]))
        self._token_window = _FixedWindow(1.0)
        self._version = 0  # bumped on every write; part of the search cache key
        self._cache: OrderedDict[tuple[str, str, int], list[Product]] = OrderedDict()
        self._last_write = max((p["modified"] for p in self.catalog.products),
                               default=iso(datetime.now(timezone.utc)))
        self._counters = {"unauthorized": 0, "rate_limited": 0, "writes": 0}
        self._lock = self.app.lock
        self._register_routes()

    @contextmanager
    def serving(self) -> Iterator[RunningServer]:
        """Serve this sandbox on a free 127.0.0.1 port for the duration of a with-block (tests, benches)."""
        server = RunningServer(self.app)
        server.sandbox = self  # type: ignore[attr-defined]  # same shape as the conftest fixture
        try:
            yield server
        finally:
            server.stop()

    # ---- Python admin API (what /_sandbox/ exposes over HTTP) ------------------------------------

    def product(self, product_id: str) -> Product:
        """The raw stored record (category ids, no omissions), as a copy."""
        with self._lock:
            return copy.deepcopy(self._get(product_id))

    def history(self, product_id: str) -> list[dict[str, Any]]:
        """Every write to a product: {"at", "by": "api"|"ui", "changes": {field: [old, new]}}."""
        with self._lock:
            self._get(product_id)
            return copy.deepcopy(self._history[product_id])

    def products(self) -> list[Product]:
        """All raw records in insertion order (copies), for tests that check search results."""
        with self._lock:
            return copy.deepcopy(list(self._products.values()))

    def edit_product(self, product_id: str, *, attributes: Optional[dict[str, Any]] = None,
                     status: Optional[str] = None, label: Optional[str] = None) -> Product:
        """Change a product as a person in the Plytix UI would; validated like PATCH, bumps `modified`."""
        changes: dict[str, Any] = {"attributes": attributes or {}}
        if status is not None:
            changes["status"] = status
        if label is not None:
            changes["label"] = label
        with self._lock:
            product = self._get(product_id)
            self._write(product, self._validated_changes(changes), actor="ui")
            return copy.deepcopy(product)

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change run-time switches (token_lifetime, rate_per_10s, rate_per_hour, retry_after, deprecated)."""
        with self._lock:
            self.config.update(changes)
            return copy.deepcopy(self.config)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now (the next API call gets 401)."""
        with self._lock:
            self._tokens.expire_all()

    def stats(self) -> dict[str, Any]:
        """Counters for tests and the demo: products, tokens issued, 401s, 429s, writes, calls per endpoint."""
        with self._lock:
            calls = {k: v for k, v in self.app.faults.calls.items() if k != "admin"}
            return {"products": len(self._products), "tokens_issued": self._tokens.issued, **self._counters,
                    "calls": calls, "config": asdict(self.config)}

    # ---- plumbing --------------------------------------------------------------------------------

    def _get(self, product_id: str) -> Product:
        product = self._products.get(product_id)
        if product is None:
            # The collection's 404 body, including its leading space.
            raise _error(404, f" No results found for {product_id}",
                         [{"field": "id", "msg": "product does not exist"}])
        return product

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("authorization")
        if not header:
            self._counters["unauthorized"] += 1
            raise _error(401, "Missing Authorization Header")  # the collection's simple-error example
        problem = "Invalid token"
        if header.startswith("Bearer "):  # "capitalization of Bearer must be respected" (collection)
            problem = self._tokens.problem(header[len("Bearer "):])
        if problem:
            self._counters["unauthorized"] += 1
            raise _error(401, problem)

    def _check_rate(self) -> None:
        now = time.monotonic()
        waits = [window.hit(limit, now) for window, limit in
                 zip(self._windows, (self.config.rate_per_10s, self.config.rate_per_hour)) if limit is not None]
        over = [w for w in waits if w is not None]
        if over:
            self._counters["rate_limited"] += 1
            headers = {"Retry-After": str(max(1, math.ceil(max(over))))} if self.config.retry_after else None
            raise _error(429, "API rate limit exceeded", headers=headers)

    def _api(self, method: str, path_regex: str, name: str) -> Callable[[Callable[[Request], Response]], Any]:
        """Register an /api/v1 handler behind Bearer auth, the rate limit and the deprecation header."""

        def register(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
            def guarded(req: Request) -> Response:
                self._authenticate(req)
                self._check_rate()
                response = handler(req)
                if name in self.config.deprecated:
                    response.headers["X-Plytix-Deprecation"] = self.config.deprecated[name]
                return response

            self.app.route(method, path_regex, name)(guarded)
            return handler

        return register

    def _next_modified(self) -> str:
        """Now, but strictly later than every earlier write: `modified` changes on every write."""
        moment = datetime.now(timezone.utc)
        last = datetime.fromisoformat(self._last_write)
        if moment <= last:
            moment = last + timedelta(microseconds=1)
        self._last_write = iso(moment)
        return self._last_write

    # ---- products: rendering -----------------------------------------------------------------------

    def _category_links(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        return [self.catalog.categories[c].as_link() for c in ids if c in self.catalog.categories]

    def _render_product(self, product: Product, all_attributes: bool) -> Product:
        """A product as GET returns it: empty attributes omitted unless all_attributes (then null)."""
        out = copy.deepcopy({k: v for k, v in product.items() if k not in ("attributes", "categories")})
        out["categories"] = self._category_links(product["categories"])
        attrs = {k: copy.deepcopy(v) for k, v in product["attributes"].items() if not is_empty(v)}
        if all_attributes:
            for label in self.catalog.attributes:
                attrs.setdefault(label, None)
        out["attributes"] = dict(sorted(attrs.items()))
        return out

    def _render_search_item(self, product: Product, columns: tuple[str, ...]) -> Product:
        """A search hit: id, sku, num_variations, `attributes` and `_parent_id` for variants always (the
        collection's "Minimum search query" example), plus the requested columns. Media come back as
        `{"id"}` references, as in the collection's search examples. Empty attributes are omitted
        (UNVERIFIED: callers must treat a missing key like null)."""
        item: Product = {"attributes": {}, "id": product["id"], "num_variations": product["num_variations"],
                         "sku": product["sku"]}
        if product["_parent_id"]:
            item["_parent_id"] = product["_parent_id"]
        attrs = product["attributes"]
        for column in columns:
            if column.startswith("attributes."):
                label = column[len("attributes."):]
                value = attrs.get(label)
                if not is_empty(value):
                    item["attributes"][label] = _reference_media(self.catalog.attributes[label], value)
            elif column == "categories":
                item["categories"] = self._category_links(product["categories"])
            elif column == "thumbnail":
                item["thumbnail"] = {"id": product["thumbnail"]["id"]} if product["thumbnail"] else None
            else:
                item[column] = copy.deepcopy(product[column])
        return item

    # ---- products: validation and writes -----------------------------------------------------------

    def _validated_changes(self, body: Any) -> dict[str, Any]:
        """Check a PATCH/create body; return {"label"?, "status"?, "attributes": {label: stored value}}.
        Unknown top-level keys are ignored ("Readonly and unknown parameters will be ignored")."""
        if not isinstance(body, dict):
            raise _error(422, "product data validation failed", [{"field": "body", "msg": "must be an object"}])
        errors: list[dict[str, Any]] = []
        changes: dict[str, Any] = {}
        if "status" in body:
            if body["status"] not in STATUSES:
                errors.append({"field": "status", "msg": _STATUS_MSG})
            changes["status"] = body["status"]
        if "label" in body:
            if body["label"] is not None and not isinstance(body["label"], str):
                errors.append({"field": "label", "msg": "Not a valid string."})
            changes["label"] = body["label"]
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict):
            errors.append({"field": "attributes", "msg": "must be an object of label -> value"})
            attributes = {}
        stored: dict[str, Any] = {}
        for label, value in attributes.items():
            definition = self.catalog.attributes.get(label)
            if definition is None:
                errors.append({"field": label, "msg": "label does not exist"})  # collection's example
                continue
            try:
                stored[label] = self._attribute_value(definition, value)
            except ValueError as exc:
                errors.append({"field": label, "msg": str(exc)})
        if errors:
            raise _error(422, "product data validation failed", errors)
        changes["attributes"] = stored
        return changes

    def _attribute_value(self, definition: AttributeDef, value: Any) -> Any:
        """Validate one attribute value against its type; return what is stored (None clears it)."""
        kind = definition.type_class
        if kind == "CompletenessAttribute":
            raise ValueError("completeness attributes are computed and cannot be written")
        if is_empty(value):
            return None
        if kind in ("TextAttribute", "MultilineAttribute", "HtmlAttribute", "UrlAttribute"):
            if not isinstance(value, str):
                raise ValueError("Not a valid string.")
            if kind == "UrlAttribute" and not value.startswith(("http://", "https://")):
                raise ValueError("Not a valid URL.")
            return value
        if kind in ("IntAttribute", "DecimalAttribute"):
            number = _number(value)
            if number is None or (kind == "IntAttribute" and not number.is_integer()):
                raise ValueError("Not a valid integer value." if kind == "IntAttribute"
                                 else "Not a valid decimal value. Format must be: .")
            return int(number) if kind == "IntAttribute" else number
        if kind == "BooleanAttribute":
            if not isinstance(value, bool):
                raise ValueError("Not a valid boolean.")
            return value
        if kind == "DateAttribute":
            try:
                return date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise ValueError("Not a valid date, format must be YYYY-MM-DD.") from None
        if kind == "DropdownAttribute":
            if value not in definition.options:
                raise ValueError(f"{value!r} is not a valid value for {definition.name} attribute.")
            return value
        if kind == "MultiSelectAttribute":
            if not isinstance(value, list) or any(v not in definition.options for v in value):
                raise ValueError(f"{value!r} are not a valid values for {definition.name} attribute.")
            return list(dict.fromkeys(value))
        if kind == "MediaAttribute":
            return self._asset(value)
        if kind == "MediaGalleryAttribute":
            if not isinstance(value, list):
                raise ValueError("a media gallery takes a list of {\"id\": asset id}")
            return [self._asset(v) for v in value]
        raise ValueError(f"unsupported attribute type {kind}")

    def _asset(self, reference: Any) -> dict[str, Any]:
        """Link an existing asset by id ("only asset identifier is mandatory", collection)."""
        asset_id = reference.get("id") if isinstance(reference, dict) else None
        if asset_id not in self.catalog.assets:
            raise ValueError(f"asset {asset_id!r} does not exist")
        return dict(self.catalog.assets[asset_id])

    def _write(self, product: Product, changes: dict[str, Any], actor: str) -> None:
        """Apply validated changes, recompute completeness, bump `modified`, record what changed."""
        diff: dict[str, list[Any]] = {}
        for key in ("label", "status"):
            if key in changes and changes[key] != product[key]:
                diff[key] = [product[key], changes[key]]
                product[key] = changes[key]
        attrs = product["attributes"]
        for label, value in changes["attributes"].items():
            old = attrs.get(label)
            if is_empty(value):
                attrs.pop(label, None)
            else:
                attrs[label] = value
            if old != value and not (is_empty(old) and is_empty(value)):
                diff[f"attributes.{label}"] = [old, value]
        attrs["content_completeness"] = completeness(attrs)
        product["modified"] = self._next_modified()
        self._history[product["id"]].append({"at": product["modified"], "by": actor, "changes": diff})
        self._counters["writes"] += 1
        self._version += 1

    # ---- routes ------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        self._register_auth()
        self._register_products()
        self._register_definitions()
        self._register_admin()
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self.app.route(method, r"/(?:api|auth)/.*/", "plytix.trailing_slash")(self._redirect_trailing_slash)

    @staticmethod
    def _redirect_trailing_slash(req: Request) -> Response:
        """"A trailing slash redirects and DROPS the Authorization header" (API_FACTS.md): the redirect
        itself is answered without looking at credentials."""
        location = req.path.rstrip("/") + (f"?{urlencode(req.query, doseq=True)}" if req.query else "")
        return Response(308, {"error": {"msg": "Redirecting to the path without a trailing slash"}},
                        {"Location": location})

    def _register_auth(self) -> None:
        @self.app.route("POST", r"/auth/api/get-token", "plytix.token")
        def get_token(req: Request) -> Response:
            if self._token_window.hit(TOKEN_RATE_PER_SECOND, time.monotonic()) is not None:
                self._counters["rate_limited"] += 1
                raise _error(429, "Too many token requests")
            body = req.json()
            missing = [k for k in ("api_key", "api_password")
                       if not isinstance(body, dict) or not isinstance(body.get(k), str)]
            if missing:
                raise _error(400, "api_key and api_password are required",
                             [{"field": k, "msg": "Missing data for required field."} for k in missing])
            good = hmac.compare_digest(body["api_key"], DEV_API_KEY) and hmac.compare_digest(
                body["api_password"], DEV_API_PASSWORD)
            if not good:
                # API_FACTS.md's body; the collection's example is the bare {"msg": ...}. Never echo secrets.
                raise _error(401, "Bad api_key or api_password: credentials not recognised",
                             [{"field": "api_key", "msg": "invalid credentials"}])
            return Response(200, {"data": [{"access_token": self._tokens.issue(self.config.token_lifetime)}]})

    def _register_products(self) -> None:
        @self._api("POST", r"/api/v1/products/search", "plytix.search")
        def search(req: Request) -> Response:
            query = _parse_search(req, self._filterable, self._columns, self.max_search_attributes)
            matches = self._matches(query)
            if query.order and len(matches) > self.order_limit:
                raise _error(428, f"Too many results to sort: {len(matches)} products match, the limit is "
                                  f"{self.order_limit}. Narrow the filters or drop the order.",
                             [{"field": "pagination.order", "msg": "order is not allowed on this many results"}])
            page = [self._render_search_item(p, query.columns) for p in _page(matches, query)]
            return Response(200, {"data": page, "pagination": _pagination(query, len(page), len(matches))})

        @self._api("POST", r"/api/v1/products", "plytix.create_product")
        def create_product(req: Request) -> Response:
            body = req.json()
            sku = body.get("sku") if isinstance(body, dict) else None
            if not isinstance(sku, str) or not sku:
                raise _error(422, "product data validation failed",
                             [{"field": "sku", "msg": "Missing data for required field."}])
            changes = self._validated_changes(body)
            categories = body.get("categories") or []
            if not isinstance(categories, list):
                raise _error(422, "product data validation failed",
                             [{"field": "categories", "msg": "must be a list of {\"id\": category id}"}])
            category_ids = [c.get("id") if isinstance(c, dict) else None for c in categories]
            bad = [c for c in category_ids if c not in self.catalog.categories]
            if bad:
                raise _error(422, "product data validation failed",
                             [{"field": "categories", "msg": f"category {c!r} does not exist"} for c in bad])
            if sku in self._by_sku:  # the collection's 409 body
                raise _error(409, "product data validation failed",
                             [{"field": "sku", "msg": "A product with the same SKU already exists"}])
            product = self._new_product(sku, changes, category_ids)
            host = req.headers.get("host", "localhost")
            return Response(201, {"data": [self._render_product(product, False)]},
                            {"Location": f"http://{host}/api/v1/products/{product['id']}"})

        @self._api("GET", rf"/api/v1/products/{_PRODUCT_ID}", "plytix.get_product")
        def get_product(req: Request) -> Response:
            product = self._get(req.params["product_id"])
            all_attributes = (req.arg("all_attributes") or "false").lower() == "true"
            return Response(200, {"data": [self._render_product(product, all_attributes)]})

        @self._api("PATCH", rf"/api/v1/products/{_PRODUCT_ID}", "plytix.patch_product")
        def patch_product(req: Request) -> Response:
            product = self._get(req.params["product_id"])
            self._write(product, self._validated_changes(req.json()), actor="api")
            return Response(200, {"data": [self._render_product(product, False)]})

        @self._api("DELETE", rf"/api/v1/products/{_PRODUCT_ID}", "plytix.delete_product")
        def delete_product(req: Request) -> Response:
            self._delete(self._get(req.params["product_id"]))
            return Response(204)

    def _matches(self, query: _SearchRequest) -> list[Product]:
        """Filtered and ordered products, cached per (filters, order, catalog version) so that paging
        through 10,000 products filters once, not once per page."""
        key = (query.filters_key, query.order or "", self._version)
        cached = self._cache.get(key)
        if cached is None:
            source = list(self._products.values())
            matched = source if query.predicate is None else [p for p in source if query.predicate(p)]
            cached = _sorted(matched, query.order, self._filterable)
            self._cache[key] = cached
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return cached

    def _new_product(self, sku: str, changes: dict[str, Any], category_ids: list[str]) -> Product:
        now = self._next_modified()
        attributes = {k: v for k, v in changes["attributes"].items() if not is_empty(v)}
        attributes["content_completeness"] = completeness(attributes)
        product: Product = {
            "id": self._new_id(), "sku": sku, "label": changes.get("label"),
            "status": changes.get("status", "Draft"),
            "created": now, "modified": now, "gtin": None, "num_variations": 0, "_parent_id": None,
            "product_family_id": None, "product_family_model_id": None, "product_type": "SINGLE",
            "product_level": 0, "thumbnail": None, "assets": [], "categories": category_ids,
            "attributes": attributes, "relationships": [], "overwritten_attributes": [],
        }
        self._products[product["id"]] = product
        self._by_sku[sku] = product["id"]
        self._history[product["id"]].append({"at": now, "by": "api", "changes": {"created": [None, sku]}})
        self._counters["writes"] += 1
        self._version += 1
        return product

    def _new_id(self) -> str:
        while True:
            candidate = secrets.token_hex(12)
            if candidate not in self._products:
                return candidate

    def _delete(self, product: Product) -> None:
        """Delete a product and its variants ("All variants linked to this product will be removed")."""
        doomed = [product] + [p for p in self._products.values() if p["_parent_id"] == product["id"]]
        for item in doomed:
            self._products.pop(item["id"], None)
            self._by_sku.pop(item["sku"], None)
        parent = self._products.get(product["_parent_id"] or "")
        if parent is not None:
            parent["num_variations"] = max(0, parent["num_variations"] - 1)
        self._counters["writes"] += 1
        self._version += 1

    def _register_definitions(self) -> None:
        """Filters, attributes, families and categories: read-only views of the catalog definitions."""
        attribute_items = [a.as_api({d.label: d.id for d in self.catalog.attributes.values()})
                           for a in self.catalog.attributes.values()]
        text = ("exists", "!exists", "like", "eq", "!eq", "in", "!in")
        attribute_fields = {k: _system(k, "TextAttribute", text, "text")
                            for k in ("id", "label", "name", "type_class", "filter_type")}
        family_fields = {k: _system(k, "TextAttribute", text, "text") for k in ("id", "name")}
        category_fields = {
            **{k: _system(k, "TextAttribute", text, "text") for k in ("id", "name")},
            "parent_id": _system("parent_id", "TextAttribute", text, "text",
                                 lambda c: c["parents_ids"][-1] if c["parents_ids"] else None),
            "n_children": _system("n_children", "DecimalAttribute", _NUMBER_OPS, "number"),
            "order": _system("order", "DecimalAttribute", _NUMBER_OPS, "number"),
        }

        @self._api("GET", r"/api/v1/filters/product", "plytix.filters")
        def filters(_: Request) -> Response:
            return Response(200, {"data": [{"attributes": [f.describe() for f in self._fields.values()],
                                            "properties": [f.describe() for f in self._properties.values()]}]})

        @self._api("POST", r"/api/v1/attributes/product/search", "plytix.attributes")
        def attributes(req: Request) -> Response:
            return _definition_search(req, attribute_fields, attribute_items)

        @self._api("POST", r"/api/v1/product_families/search", "plytix.families")
        def families(req: Request) -> Response:
            items = [self._family_item(f.id) for f in self.catalog.families.values()]
            return _definition_search(req, family_fields, items)

        @self._api("GET", r"/api/v1/product_families/(?P<family_id>[^/]+)", "plytix.get_family")
        def get_family(req: Request) -> Response:
            return Response(200, {"data": [self._family_item(req.params["family_id"])]})

        @self._api("GET", r"/api/v1/product_families/(?P<family_id>[^/]+)/(?P<which>attributes|all_attributes)",
                   "plytix.family_attributes")
        def family_attributes(req: Request) -> Response:
            family = self._family(req.params["family_id"])
            # Response shape UNVERIFIED (the collection has no example): one item per attribute with its
            # inheritance level, as the endpoint's description explains.
            items = [{"id": self.catalog.attributes[label].id, "label": label,
                      "name": self.catalog.attributes[label].name,
                      "type_class": self.catalog.attributes[label].type_class,
                      "level": "variant_level" if label == "size" else "parent_level"}
                     for label in family.attribute_labels]
            if req.params["which"] == "all_attributes":
                system_fields = ("sku", "label", "status", "gtin")
                items = [{"label": c, "level": "no_level", "system": True} for c in system_fields] + items
            return Response(200, {"data": items})

        @self._api("POST", r"/api/v1/categories/product/search", "plytix.categories")
        def categories(req: Request) -> Response:
            items = [self._category_item(c) for c in self.catalog.categories.values()]
            return _definition_search(req, category_fields, items)

        @self._api("POST", r"/api/v1/categories/product", "plytix.create_category")
        def create_category(req: Request) -> Response:
            body = req.json()
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not name.strip():
                raise _error(422, "category data validation failed",
                             [{"field": "name", "msg": "Missing data for required field."}])
            if any(c.name == name and not c.parents_ids for c in self.catalog.categories.values()):
                raise _error(409, "category data validation failed", [{"field": "name", "msg": "already exists"}])
            roots = sum(1 for c in self.catalog.categories.values() if not c.parents_ids)
            category = Category(self._new_id(), name, (name,), (), roots)
            self.catalog.categories[category.id] = category
            return Response(201, {"data": [self._category_item(category)]})

    def _family(self, family_id: str) -> Any:
        family = self.catalog.families.get(family_id)
        if family is None:
            raise _error(404, f"No results found for {family_id}",
                         [{"field": "id", "msg": "family does not exist"}])
        return family

    def _family_item(self, family_id: str) -> dict[str, Any]:
        family = self._family(family_id)
        total = sum(1 for p in self._products.values() if p["product_family_id"] == family.id)
        return {"id": family.id, "name": family.name, "created": family.created, "created_at": family.created,
                "modified": family.created, "total_attributes": len(family.attribute_labels),
                "total_models": 0, "total_products": total}

    def _category_item(self, category: Category) -> dict[str, Any]:
        children = sum(1 for c in self.catalog.categories.values() if c.parents_ids[-1:] == (category.id,))
        return {"id": category.id, "name": category.name, "path": list(category.path),
                "parents_ids": list(category.parents_ids), "n_children": children, "order": category.order}

    def _register_admin(self) -> None:
        route = self.app.route

        @route("GET", r"/_sandbox/products", "admin")
        def raw_products(req: Request) -> Response:
            """Every raw record (?limit=N for the first N), as a person browsing the catalog sees it."""
            limit = int(req.arg("limit") or 0)
            products = self.products()
            return Response(200, {"data": products[:limit] if limit > 0 else products})

        @route("GET", rf"/_sandbox/products/{_PRODUCT_ID}", "admin")
        def raw_product(req: Request) -> Response:
            product_id = req.params["product_id"]
            return Response(200, {**self.product(product_id), "_history": self.history(product_id)})

        @route("PATCH", rf"/_sandbox/products/{_PRODUCT_ID}", "admin")
        def ui_edit(req: Request) -> Response:
            body = req.json()
            if not isinstance(body, dict):
                raise _error(422, "body must be an object")
            product = self.edit_product(req.params["product_id"], attributes=body.get("attributes"),
                                        status=body.get("status"), label=body.get("label"))
            return Response(200, product)

        @route("POST", r"/_sandbox/config", "admin")
        def set_config(req: Request) -> Response:
            body = req.json()
            if not isinstance(body, dict):
                raise _error(422, "body must be an object")
            try:
                return Response(200, asdict(self.configure(**body)))
            except ValueError as exc:
                raise _error(422, str(exc)) from None

        @route("POST", r"/_sandbox/tokens/expire", "admin")
        def expire(_: Request) -> Response:
            self.expire_tokens()
            return Response(204)

        @route("GET", r"/_sandbox/stats", "admin")
        def stats(_: Request) -> Response:
            return Response(200, self.stats())


def _reference_media(definition: AttributeDef, value: Any) -> Any:
    if definition.type_class == "MediaGalleryAttribute":
        return [{"id": asset["id"]} for asset in value]
    if definition.type_class == "MediaAttribute":
        return {"id": value["id"]}
    return copy.deepcopy(value)


def _definition_search(req: Request, fields: dict[str, _Field], items: list[dict[str, Any]]) -> Response:
    """Search over a small definition list (attributes, families, categories). Without `attributes` the
    whole item comes back (the collection's examples do this); with it, id plus the requested columns."""
    columns = {key for item in items for key in item}
    query = _parse_search(req, fields, columns, MAX_SEARCH_ATTRIBUTES)
    matched = items if query.predicate is None else [i for i in items if query.predicate(i)]
    ordered = _sorted(matched, query.order, fields)
    page = _page(ordered, query)
    if query.columns:
        page = [{"id": i["id"], **{c: i[c] for c in query.columns if c in i}} for i in page]
    return Response(200, {"data": copy.deepcopy(page), "pagination": _pagination(query, len(page), len(matched))})


__all__ = ["DEV_API_KEY", "DEV_API_PASSWORD", "PlytixSandbox", "SandboxConfig"]
