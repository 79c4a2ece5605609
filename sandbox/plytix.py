"""A local stand-in for the Plytix PIM API v1 (and its auth endpoint), behaving as API_FACTS.md and the
official Postman collection (/work/shared/reference/plytix_v1.postman_collection.json) describe.

Why it exists: the client, the change feed and the demo must meet the real service's rules (no list
endpoint, list-of-lists filters, page_size <= 100, 428 on sorted queries over 10,000 matches, 15-minute
tokens, two rate-limit windows, omitted empty attributes, trailing-slash redirects) long before anyone
has a Plytix account, and tests need to inject the failures the real service has only on bad days.
The stand-in was written from the documentation, not from what our client sends: where a behaviour is
undocumented the choice is marked UNVERIFIED and made so that a correct client works either way.

The seeded catalog (families, attribute labels and types, workflow stages, seeded gaps) is described in
`sandbox/catalog.py`. The search and filter engine (searchable fields, operators, filter parsing and
matching, ordering and paging) is in `sandbox/plytix_search.py`; token issuing, the rate-limit windows and
the run-time config (SandboxConfig) are in `sandbox/plytix_limits.py`. This module holds the PlytixSandbox
class: its HTTP routes, product storage and writes, and the admin API.

Endpoint names for fault injection and call counting (see sandbox/base.py):
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

import copy
import hmac
import math
import secrets
import time
from collections import OrderedDict, defaultdict
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlencode

from sandbox.base import App, HttpError, Request, Response, RunningServer
from sandbox.catalog import STATUSES, AttributeDef, Category, build_catalog, completeness, is_empty, iso
from sandbox.channels import ChannelFeeds
from sandbox.plytix_limits import TOKEN_RATE_PER_SECOND, SandboxConfig, _FixedWindow, _TokenIssuer
from sandbox.plytix_search import (
    _NUMBER_OPS,
    MAX_SEARCH_ATTRIBUTES,
    ORDER_LIMIT,
    Product,
    _error,
    _Field,
    _number,
    _page,
    _pagination,
    _parse_search,
    _product_fields,
    _SearchRequest,
    _sorted,
    _system,
)

DEV_API_KEY = "sandbox-api-key"
DEV_API_PASSWORD = "sandbox-api-password"


# ---------------------------------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------------------------------

_PRODUCT_ID = r"(?P<product_id>(?!search$)[^/]+)"
# Columns rich search serves beyond its listing (strict search serves only what it lists).
_RICH_COLUMNS = ("product_family_model_id", "num_variations", "_parent_id")
_STATUS_MSG = "Value is not valid, valid values are [Draft, Completed, Archived]"  # the collection's 422


class PlytixSandbox:
    """The Plytix stand-in: a seeded catalog behind `app` (serve it with sandbox.base.RunningServer)."""

    def __init__(self, *, products: int = 200, seed: int = 7, token_lifetime: float = 900,
                 rate_per_10s: Optional[int] = None, rate_per_hour: Optional[int] = None, gap_rate: float = 0.1,
                 order_limit: int = ORDER_LIMIT, max_search_attributes: int = MAX_SEARCH_ATTRIBUTES,
                 rate_windows: tuple[float, float] = (10.0, 3600.0), token_window: float = 1.0,
                 rich_search: bool = False) -> None:
        """`order_limit` and `rate_windows` exist so tests can reach the 428 and both 429 windows with a
        small catalog and in a fraction of a second; their defaults are the real service's. `token_window`
        (the token endpoint's 8-per-window limit; the real one is about a second) lets a test widen the
        window so that a slow, loaded machine still fits its requests in one.

        `rich_search` switches product search from the documented, strict behaviour (only the fields
        `GET /api/v1/filters/product` lists may be filtered on or requested, `product_family_id` never
        comes back from a search) to a friendlier one that also lists and returns `id`,
        `product_family_id` and `product_type` (see plytix_search._product_fields)."""
        # The seed: definitions (attributes, families, categories, assets) are read from it for good;
        # products live in self._products from here on (read them with products()/product()).
        self.catalog = build_catalog(products, seed, gap_rate)
        self.config = SandboxConfig(token_lifetime=float(token_lifetime), rate_per_10s=rate_per_10s,
                                    rate_per_hour=rate_per_hour)
        self.order_limit = order_limit
        self.max_search_attributes = max_search_attributes
        self.app = App("plytix", fault_body=_fault_body)
        self._products: dict[str, Product] = {p["id"]: p for p in self.catalog.products}
        self._by_sku = {p["sku"]: p["id"] for p in self.catalog.products}
        self._history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rich_search = rich_search
        self._fields, self._properties = _product_fields(self.catalog.attributes.values(), rich=rich_search)
        self._filterable = {**self._fields, **self._properties}
        # What a search may request: what the listing names ("'key' value is what MUST be used in
        # requests", collection); rich mode also serves the other system fields of a product.
        self._columns = set(self._filterable) | (set(_RICH_COLUMNS) if rich_search else set())
        self._tokens = _TokenIssuer()
        self._windows = (_FixedWindow(rate_windows[0]), _FixedWindow(rate_windows[1]))
        self._token_window = _FixedWindow(token_window)
        self._version = 0  # bumped on every write; part of the search cache key
        self._cache: OrderedDict[tuple[str, str, int], list[Product]] = OrderedDict()
        self._last_write = max((p["modified"] for p in self.catalog.products),
                               default=iso(datetime.now(timezone.utc)))
        self._counters = {"unauthorized": 0, "rate_limited": 0, "writes": 0}
        self._lock = self.app.lock
        self._register_routes()
        self.channels = ChannelFeeds(self.app, self.products)  # published feeds and channel webhooks (job 5)

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

    def delete_product(self, product_id: str) -> None:
        """Delete a product (and its variants) as a person in the Plytix UI would."""
        with self._lock:
            self._delete(self._get(product_id))

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
        problem: Optional[str] = "Invalid token"
        if header.startswith("Bearer "):  # "capitalization of Bearer must be respected" (collection)
            problem = self._tokens.problem(header[len("Bearer "):])
        if problem:
            self._counters["unauthorized"] += 1
            raise _error(401, problem)

    def _check_rate(self) -> None:
        now = time.monotonic()
        over = [(wait, window, limit) for window, limit in
                zip(self._windows, (self.config.rate_per_10s, self.config.rate_per_hour), strict=True)
                if limit is not None and (wait := window.hit(limit, now)) is not None]
        if over:
            self._counters["rate_limited"] += 1
            wait, window, limit = max(over, key=lambda o: o[0])
            headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.config.retry_after else None
            raise HttpError(429, rate_limit_body(limit, window.seconds, wait), headers)

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
            elif column not in product:  # properties, images, static_lists: computed from the record
                item[column] = copy.deepcopy(self._filterable[column].get(product))
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
            product = self._new_product(sku, changes, [c for c in category_ids if isinstance(c, str)])
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


def rate_limit_body(limit: int, window_seconds: float, ttl: float) -> dict[str, Any]:
    """A 429 as clients observe it on the live service (third-party observation, 2026-09, API_FACTS.md):
    `{"message", "limit", "window_size", "ttl"}` and no rate-limit headers. The units of `window_size` and
    `ttl` are not documented; seconds, as whole numbers, is our reading (UNVERIFIED)."""
    return {"message": "API rate limit exceeded", "limit": limit, "window_size": int(window_seconds),
            "ttl": max(1, math.ceil(ttl))}


def _fault_body(status: int) -> dict[str, Any]:
    """The body of an injected fault: the live 429 shape, else the v1 error body ({"error": {"msg"}})."""
    if status == 429:
        return rate_limit_body(20, 10, 1)
    return {"error": {"msg": f"injected {status}"}}


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
