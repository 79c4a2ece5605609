"""The Plytix PIM API v1 client (synchronous, httpx).

What it guarantees, each because of a fact in API_FACTS.md:
- listing is `POST /api/v1/products/search`, streamed page by page (there is no list endpoint, page_size
  is at most 100): memory stays flat whatever the catalog size;
- at most 20 requested attributes per search (the docs say 50 in one place and 20 in another) and
  page_size <= 100, checked BEFORE any call, with a ValueError that says so;
- one cached token, refreshed ahead of its expiry and once more on 401, by one thread at a time;
- both rate-limit windows respected on our side; 429, 5xx, timeouts and dropped connections retried with
  backoff (Retry-After honoured when present) for idempotent requests only: search, get and patch are
  idempotent (a PATCH sets values, so sending it twice leaves the same state); a create is retried only
  when the server certainly did not act (a 429, or the connection was never made);
- typed errors carrying the API's message; 428 on an ordered query is raised, never worked around;
- never a trailing slash (Plytix redirects and drops the Authorization header), never a redirect followed;
- `X-Plytix-Deprecation` logged once per endpoint;
- no secret (api key, password, token) in a repr, a log line or an exception message.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import httpx
from pydantic import SecretStr

from shared.observability import get_logger, record_api_call
from shared.plytix.errors import AuthError, PlytixError, RateLimited, Unavailable, error_from_response
from shared.plytix.ratelimit import Limiter, RateLimiter, WaitTooLong, WindowUsage
from shared.plytix.retry import backoff_delay, retry_after_seconds, window_ttl_seconds
from shared.plytix.tokens import TokenCache

if TYPE_CHECKING:
    from shared.settings import Settings

logger = get_logger(__name__)

TOKEN_PATH = "/auth/api/get-token"
MAX_SEARCH_ATTRIBUTES = 20
MAX_PAGE_SIZE = 100
TOKEN_RATE_PER_SECOND = 8  # the token endpoint's own limit (API_FACTS.md)
PATCHABLE = frozenset({"label", "status", "attributes"})  # what PATCH /products/{id} changes (collection)
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
# Errors raised before the request left this machine: even a create can be retried after them.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Filters = Sequence[Sequence[Mapping[str, Any]]]


class ClientStats:
    """Counters for benches, the demo and tests: calls per endpoint, retries, 429s, token fetches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.retries = 0
        self.rate_limited = 0
        self.reauthentications = 0
        self.token_fetches = 0
        self.limiter_wait_seconds = 0.0

    def add(self, counter: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "retries": self.retries, "rate_limited": self.rate_limited,
                    "reauthentications": self.reauthentications, "token_fetches": self.token_fetches,
                    "limiter_wait_seconds": round(self.limiter_wait_seconds, 3)}

    def __repr__(self) -> str:
        return f"ClientStats({self.snapshot()})"


class PlytixClient:
    """A Plytix API v1 client. Thread-safe; one instance per process is enough."""

    def __init__(self, *, base_url: str, auth_url: str, api_key: str, api_password: str,
                 rate_per_10s: int = 20, rate_per_hour: int = 2000, timeout: float = 30.0,
                 max_retries: int = 6, backoff_base: float = 0.5, http: Optional[httpx.Client] = None,
                 backoff_cap: float = 30.0, max_retry_after: float = 60.0,
                 limiter: Optional[Limiter] = None, rate_margin: float = 0.5) -> None:
        """`max_retry_after`: a Retry-After longer than this is not slept through; RateLimited is raised
        at once so that a function invocation can checkpoint instead of idling past its time limit."""
        if not api_key or not api_password:
            raise ValueError("api_key and api_password are required")
        if max_retries < 0 or backoff_base < 0 or timeout <= 0:
            raise ValueError("max_retries and backoff_base must be >= 0 and timeout > 0")
        self._base_url = _root(base_url, "base_url")
        self._auth_url = _root(auth_url, "auth_url")
        self._credentials = (SecretStr(api_key), SecretStr(api_password))  # repr: '**********'
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_retry_after = max_retry_after
        self._owns_http = http is None
        self._http = http or httpx.Client(follow_redirects=False)
        self._limiter: Limiter = limiter or RateLimiter([(rate_per_10s, 10.0), (rate_per_hour, 3600.0)],
                                                        margin=rate_margin)
        self._token_limiter = RateLimiter([(TOKEN_RATE_PER_SECOND, 1.0)])
        self._tokens = TokenCache(self._fetch_token)
        self._deprecations_seen: set[str] = set()
        self._deprecations_lock = threading.Lock()
        self.stats = ClientStats()

    @classmethod
    def from_settings(cls, settings: "Settings", **overrides: Any) -> "PlytixClient":
        """The client the app uses, configured from app settings (secrets from Key Vault references)."""
        options: dict[str, Any] = dict(
            base_url=settings.PLYTIX_BASE_URL, auth_url=settings.PLYTIX_AUTH_URL,
            api_key=settings.PLYTIX_API_KEY.get_secret_value(),
            api_password=settings.PLYTIX_API_PASSWORD.get_secret_value(),
            rate_per_10s=settings.PLYTIX_RATE_PER_10S, rate_per_hour=settings.PLYTIX_RATE_PER_HOUR,
            rate_margin=settings.PLYTIX_RATE_MARGIN_SECONDS,
            timeout=settings.PLYTIX_TIMEOUT_SECONDS)
        options.update(overrides)
        return cls(**options)

    def rate_budget(self) -> list[WindowUsage]:
        """Calls this process booked in each rate window (per 10 s, per hour) against its limit."""
        return self._limiter.usage()

    def __repr__(self) -> str:
        return f"PlytixClient(base_url={self._base_url!r}, auth_url={self._auth_url!r})"

    def __enter__(self) -> "PlytixClient":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool (only when this client created it)."""
        if self._owns_http:
            self._http.close()

    # ---- products ------------------------------------------------------------------------------

    def search_pages(self, filters: Filters = (), attributes: Iterable[str] = (), *, page_size: int = MAX_PAGE_SIZE,
                     order: Optional[str] = None) -> Iterator[list[dict[str, Any]]]:
        """Yield search results one page at a time.

        `filters` is Plytix's list of lists (AND inside a list, OR between lists); `attributes` are API
        keys such as "label", "modified", "attributes.brand" (id and sku always come back). Paging stops
        when a page is short or `total_count` is reached, so N products cost ceil(N / page_size) calls.
        Raises OrderTooBroad when `order` is set and more than 10,000 products match."""
        columns = _columns(attributes)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be an integer between 1 and {MAX_PAGE_SIZE}")
        body_filters = _filters(filters)
        page = 1
        while True:
            pagination: dict[str, Any] = {"page": page, "page_size": page_size}
            if order:
                pagination["order"] = order
            result = self._call("search", "POST", "/api/v1/products/search",
                                json={"filters": body_filters, "attributes": columns, "pagination": pagination})
            items = result.get("data") or []
            total = int((result.get("pagination") or {}).get("total_count") or 0)
            if items:
                yield items
            if len(items) < page_size or page * page_size >= total:
                return
            page += 1

    def search(self, filters: Filters = (), attributes: Iterable[str] = (), *, page_size: int = MAX_PAGE_SIZE,
               order: Optional[str] = None) -> Iterator[dict[str, Any]]:
        """Stream matching products one by one (see `search_pages`); never holds the whole result."""
        for page in self.search_pages(filters, attributes, page_size=page_size, order=order):
            yield from page

    def count(self, filters: Filters = ()) -> int:
        """How many products match, in one call (page_size 1, read `total_count`)."""
        result = self._call("search", "POST", "/api/v1/products/search",
                            json={"filters": _filters(filters), "attributes": [],
                                  "pagination": {"page": 1, "page_size": 1}})
        return int((result.get("pagination") or {}).get("total_count") or 0)

    def get_product(self, product_id: str, all_attributes: bool = True) -> dict[str, Any]:
        """One product. With all_attributes, empty attributes come back as null instead of missing."""
        params = {"all_attributes": "true"} if all_attributes else None
        return _first(self._call("get_product", "GET", _product_path(product_id), params=params))

    def patch_product(self, product_id: str, changes: Mapping[str, Any], *,
                      repeat_if_unknown: bool = True) -> dict[str, Any]:
        """Change only what `changes` names: {"label"?, "status"?, "attributes"?: {label: value | None}}.

        Callers pass only the values that change (one note claims the attributes map is replaced rather
        than merged: sending only changes is right either way). Returns the product after the change.
        With `repeat_if_unknown=False` a 5xx or lost answer raises Unavailable(outcome_unknown=True)
        instead of re-sending (429s are still waited out): the write-back outbox re-reads the product
        first, so a write that landed is never sent twice."""
        unknown = set(changes) - PATCHABLE
        if unknown:
            raise ValueError(f"patch_product can change only {sorted(PATCHABLE)}, not {sorted(unknown)}")
        if not changes or changes.get("attributes") == {} and len(changes) == 1:
            raise ValueError("patch_product needs at least one change")
        if "attributes" in changes and not isinstance(changes["attributes"], Mapping):
            raise ValueError("changes['attributes'] must map attribute labels to values")
        body = {k: dict(v) if k == "attributes" else v for k, v in changes.items()}
        return _first(self._call("patch_product", "PATCH", _product_path(product_id), json=body,
                                 idempotent=repeat_if_unknown))

    def create_product(self, sku: str, *, label: Optional[str] = None, status: Optional[str] = None,
                       attributes: Optional[Mapping[str, Any]] = None,
                       categories: Iterable[str] = ()) -> dict[str, Any]:
        """Create a product (tests and the demo). Not idempotent: after a failure that may have happened
        after the server acted, Unavailable(outcome_unknown=True) is raised instead of a retry."""
        if not isinstance(sku, str) or not sku:
            raise ValueError("sku is required")
        body: dict[str, Any] = {"sku": sku}
        if label is not None:
            body["label"] = label
        if status is not None:
            body["status"] = status
        if attributes:
            body["attributes"] = dict(attributes)
        category_ids = list(categories)
        if category_ids:
            body["categories"] = [{"id": c} for c in category_ids]
        return _first(self._call("create_product", "POST", "/api/v1/products", json=body, idempotent=False))

    # ---- definitions ---------------------------------------------------------------------------

    def list_attributes(self) -> list[dict[str, Any]]:
        """Every custom product attribute: id, name, label, type_class, options..."""
        return self._search_all("attributes", "/api/v1/attributes/product/search")

    def find_attribute(self, label: str) -> Optional[dict[str, Any]]:
        """The custom attribute with this label (None: the account has none): its id, label, type_class and,
        for Dropdown and MultiSelect attributes, `options`. The search returns only the columns asked for
        (Postman collection, "Product attribute search": "If an attribute is not explicitly requested it
        won't be returned"), so they are named."""
        result = self._call("attributes", "POST", "/api/v1/attributes/product/search", json={
            "filters": [[{"field": "label", "operator": "eq", "value": label}]],
            "attributes": ["label", "type_class", "options"], "pagination": {"page": 1, "page_size": 25}})
        return next((item for item in result.get("data") or [] if item.get("label") == label), None)

    def product_filters(self) -> dict[str, Any]:
        """`GET /api/v1/filters/product`: the fields a product search may filter on and request, as
        `{"attributes": [{"key", "operators", "filter_type", "options"?}], "properties": [...]}` (the
        collection's example). Read it through shared.plytix.schema.search_schema, which caches it."""
        return _first(self._call("filters", "GET", "/api/v1/filters/product"))

    def list_families(self) -> list[dict[str, Any]]:
        """Every product family: id, name, counts."""
        return self._search_all("families", "/api/v1/product_families/search")

    def _search_all(self, endpoint: str, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self._call(endpoint, "POST", path,
                                json={"filters": [], "pagination": {"page": page, "page_size": MAX_PAGE_SIZE}})
            batch = result.get("data") or []
            items.extend(batch)
            total = int((result.get("pagination") or {}).get("total_count") or 0)
            if len(batch) < MAX_PAGE_SIZE or page * MAX_PAGE_SIZE >= total:
                return items
            page += 1

    # ---- transport -----------------------------------------------------------------------------

    def _call(self, endpoint: str, method: str, path: str, *, json: Any = None,
              params: Optional[dict[str, str]] = None, idempotent: bool = True) -> dict[str, Any]:
        """One logical API call: token, limiter, retries, one re-authentication on 401, typed errors."""
        if path.endswith("/"):
            raise ValueError("Plytix paths must not end with '/': the redirect drops the Authorization header")
        url = self._base_url + path

        used: list[str] = []  # the token each attempt sent, for the one re-authentication on 401

        def send() -> httpx.Response:
            try:
                self.stats.add("limiter_wait_seconds", self._limiter.acquire(self._max_retry_after))
            except WaitTooLong as exc:
                raise RateLimited(f"client-side rate limit: {exc}; not waiting that long",
                                  retry_after=exc.wait, endpoint=endpoint) from None
            # The token is taken AFTER the wait for the slot (and after any backoff before a retry): a
            # token taken before a long wait could expire in between and cost a 401 round trip.
            token = self._tokens.get()
            used.append(token)
            self.stats.call(endpoint)
            response = self._http.request(method, url, json=json, params=params, timeout=self._timeout,
                                          headers={"Authorization": f"Bearer {token}",
                                                   "Accept": "application/json"})
            # httpx 0.28.1 keeps a response and its stream in a reference cycle, so every ~100 KB page
            # would wait for the cyclic GC (encode/httpx PR #3733; measured in bench/scan_cost.py).
            # The body is read already: dropping the stream frees the page as soon as it is used.
            response.stream = httpx.ByteStream(b"")
            return response

        def exchange() -> httpx.Response:
            response = self._with_retries(endpoint, send, idempotent)
            self._note_deprecation(endpoint, method, response)
            return response

        response = exchange()
        if response.status_code == 401:
            logger.info("Plytix %s answered 401; fetching a new token and retrying once", endpoint)
            self.stats.add("reauthentications")
            self._tokens.invalidate(used[-1])
            response = exchange()
        return self._result(endpoint, response)

    def _with_retries(self, endpoint: str, send: Callable[[], httpx.Response], idempotent: bool) -> httpx.Response:
        """Send until the answer is not retryable; raise the typed error when retries run out."""
        attempt = 0
        while True:
            try:
                response = send()
            except httpx.TransportError as exc:
                acted = not isinstance(exc, _NOT_SENT)
                error: PlytixError = Unavailable(f"{type(exc).__name__} talking to Plytix", endpoint=endpoint,
                                    outcome_unknown=acted and not idempotent)
                if acted and not idempotent:
                    raise error from None
                attempt = self._pause_or_raise(attempt, error, None)
                continue
            status = response.status_code
            record_api_call("plytix", status)
            if status not in _RETRYABLE:
                return response
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if status == 429:
                self.stats.add("rate_limited")
                # Live 429 bodies carry the window's remaining `ttl` (API_FACTS.md): every caller of this
                # process waits for the server's window to end, not only this one.
                retry_after = retry_after if retry_after is not None else window_ttl_seconds(response)
                if retry_after is not None:
                    self._limiter.hold(retry_after)
            error = self._error(endpoint, response, retry_after)
            if status != 429 and not idempotent:
                raise Unavailable(error.message, status=status, endpoint=endpoint, outcome_unknown=True)
            attempt = self._pause_or_raise(attempt, error, retry_after)

    def _pause_or_raise(self, attempt: int, error: PlytixError, retry_after: Optional[float]) -> int:
        if attempt >= self._max_retries:
            raise error
        if retry_after is not None and retry_after > self._max_retry_after:
            raise error
        delay = retry_after if retry_after is not None else backoff_delay(
            attempt, base=self._backoff_base, cap=self._backoff_cap)
        logger.warning("Plytix %s failed (%s); retry %d of %d in %.2fs", error.endpoint,
                       error.status or error.message, attempt + 1, self._max_retries, delay)
        self.stats.add("retries")
        time.sleep(delay)
        return attempt + 1

    def _result(self, endpoint: str, response: httpx.Response) -> dict[str, Any]:
        if 300 <= response.status_code < 400:
            raise PlytixError(f"unexpected redirect to {response.headers.get('Location')!r}",
                              status=response.status_code, endpoint=endpoint)
        if response.status_code >= 400:
            raise self._error(endpoint, response, None)
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise PlytixError("the response is not JSON", status=response.status_code, endpoint=endpoint) from None
        if not isinstance(body, dict):
            raise PlytixError("the response is not a JSON object", status=response.status_code, endpoint=endpoint)
        return body

    def _error(self, endpoint: str, response: httpx.Response, retry_after: Optional[float]) -> PlytixError:
        try:
            body = response.json()
        except ValueError:
            body = None
        return error_from_response(response.status_code, self._scrub(body), endpoint, retry_after=retry_after)

    def _scrub(self, value: Any) -> Any:
        """Replace our credentials and token wherever they appear in a server's answer."""
        secrets = [s.get_secret_value() for s in self._credentials] + [self._tokens.current or ""]
        secrets = [s for s in secrets if s]
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _note_deprecation(self, endpoint: str, method: str, response: httpx.Response) -> None:
        notice = response.headers.get("X-Plytix-Deprecation")
        if not notice:
            return
        with self._deprecations_lock:
            if endpoint in self._deprecations_seen:
                return
            self._deprecations_seen.add(endpoint)
        logger.warning("Plytix marks the %s endpoint (%s) as deprecated: X-Plytix-Deprecation=%s",
                       endpoint, method, notice)

    def _fetch_token(self) -> str:
        """POST the credentials for a new token (TokenCache calls this under its lock)."""
        url = self._auth_url + TOKEN_PATH

        def send() -> httpx.Response:
            self._token_limiter.acquire()
            self.stats.call("token")
            api_key, api_password = (s.get_secret_value() for s in self._credentials)
            return self._http.post(url, json={"api_key": api_key, "api_password": api_password},
                                   timeout=self._timeout, headers={"Accept": "application/json"})

        response = self._with_retries("token", send, idempotent=True)
        if response.status_code >= 400:
            error = self._error("token", response, None)
            raise AuthError(error.message, status=error.status, endpoint="token", errors=error.errors)
        try:
            token = response.json()["data"][0]["access_token"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise AuthError("the token response has no data[0].access_token", status=response.status_code,
                            endpoint="token") from None
        if not isinstance(token, str) or not token:
            raise AuthError("the token response has an empty access_token", endpoint="token")
        self.stats.add("token_fetches")
        return token


def _root(url: str, name: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{name} must start with http:// or https://")
    return url.rstrip("/")


def _product_path(product_id: str) -> str:
    """`/api/v1/products/{id}`; ids with path or query characters are refused, not escaped, so a bad id
    can never address another resource or end the path with a slash."""
    if not isinstance(product_id, str) or not product_id or any(c in product_id for c in "/?#% \t\r\n"):
        raise ValueError(f"not a Plytix product id: {product_id!r}")
    return f"/api/v1/products/{product_id}"


def _columns(attributes: Iterable[str]) -> list[str]:
    if isinstance(attributes, str):
        raise ValueError("attributes must be a list of API keys, not one string")
    columns = list(dict.fromkeys(attributes))
    if not all(isinstance(c, str) and c for c in columns):
        raise ValueError("attributes must be non-empty strings such as 'label' or 'attributes.brand'")
    counted = [c for c in columns if c not in ("id", "sku")]
    if len(counted) > MAX_SEARCH_ATTRIBUTES:
        raise ValueError(f"a Plytix search returns at most {MAX_SEARCH_ATTRIBUTES} attributes besides id and sku "
                         f"({len(counted)} requested): split them over several searches")
    return counted


def _filters(filters: Filters) -> list[list[dict[str, Any]]]:
    """Check the list-of-lists shape early, so a caller's mistake is a ValueError, not a 422 later."""
    if isinstance(filters, (str, bytes, Mapping)):
        raise ValueError("filters must be a list of lists of {field, operator, value} conditions")
    result = []
    for group in filters:
        if isinstance(group, (str, bytes, Mapping)):
            raise ValueError("filters must be a list of lists: each inner list is one AND-group")
        conditions = [dict(c) for c in group]
        if not all("field" in c and "operator" in c for c in conditions):
            raise ValueError("every filter condition needs 'field' and 'operator'")
        result.append(conditions)
    return result


def _first(result: dict[str, Any]) -> dict[str, Any]:
    data = result.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise PlytixError("the response has no data[0]")
    return data[0]
