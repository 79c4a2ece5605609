"""The Plytix client against the real stand-in over HTTP: paging, limits, tokens, every injectable fault.

Faults are injected through sandbox/base.py's fault board; backoff is tiny so a storm costs milliseconds.
The limiter, token cache and Retry-After parsing also get clock-driven unit tests."""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Callable, Iterator

import pytest

from sandbox.catalog import GAP_CANDIDATES
from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD, PlytixSandbox
from shared.plytix import (
    AuthError,
    Conflict,
    NotFound,
    OrderTooBroad,
    PlytixClient,
    PlytixError,
    RateLimited,
    RateLimiter,
    Unavailable,
    ValidationFailed,
)
from shared.plytix.ratelimit import WaitTooLong
from shared.plytix.retry import backoff_delay, retry_after_seconds
from shared.plytix.tokens import TokenCache, token_lifetime
from shared.settings import load_settings

ClientFactory = Callable[..., PlytixClient]


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Clients for a running sandbox: generous local limits, tiny backoff, closed after the test."""
    clients: list[PlytixClient] = []

    def make(server: Any, **overrides: Any) -> PlytixClient:
        options: dict[str, Any] = dict(base_url=server.url, auth_url=server.url, api_key=DEV_API_KEY,
                                       api_password=DEV_API_PASSWORD, rate_per_10s=100_000, rate_per_hour=1_000_000,
                                       timeout=5.0, backoff_base=0.005)
        options.update(overrides)
        clients.append(PlytixClient(**options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(plytix_sandbox: Any, make_client: ClientFactory) -> PlytixClient:
    return make_client(plytix_sandbox)


def fault(server: Any, endpoint: str, **spec: Any) -> None:
    server.app.faults.add(endpoint, spec)


def all_ids(server: Any) -> list[str]:
    return [p["id"] for p in server.sandbox.products()]


# ---- reading -------------------------------------------------------------------------------------


def test_search_streams_every_product_once_in_the_fewest_calls(plytix_sandbox: Any, client: PlytixClient) -> None:
    seen = list(client.search([], ["label", "attributes.workflow_stage"]))
    assert [p["id"] for p in seen] == all_ids(plytix_sandbox)
    raw = {p["id"]: p for p in plytix_sandbox.sandbox.products()}
    assert all(p["label"] == raw[p["id"]]["label"] for p in seen)
    assert all(p["attributes"].get("workflow_stage") == raw[p["id"]]["attributes"].get("workflow_stage")
               for p in seen)
    assert client.stats.calls["search"] == math.ceil(200 / 100)  # 200 products: 2 calls, no empty third page
    assert client.stats.token_fetches == 1


def test_search_pages_yields_lists_and_filters_are_passed_through(plytix_sandbox: Any,
                                                                  client: PlytixClient) -> None:
    filters = [[{"field": "attributes.workflow_stage", "operator": "eq", "value": "approved"}]]
    pages = list(client.search_pages(filters, page_size=7))
    expected = [p["id"] for p in plytix_sandbox.sandbox.products()
                if p["attributes"].get("workflow_stage") == "approved"]
    assert [p["id"] for page in pages for p in page] == expected
    assert all(len(page) <= 7 for page in pages) and len(pages) == math.ceil(len(expected) / 7)
    assert client.count(filters) == len(expected)


def test_count_is_a_single_call(plytix_sandbox: Any, client: PlytixClient) -> None:
    assert client.count() == 200
    assert client.stats.calls["search"] == 1


def test_limits_are_checked_before_any_call(plytix_sandbox: Any, client: PlytixClient) -> None:
    labels = [f"attributes.{label}" for label in plytix_sandbox.sandbox.catalog.attributes]
    with pytest.raises(ValueError, match="at most 20 attributes"):
        list(client.search([], labels[:21]))
    with pytest.raises(ValueError, match="page_size"):
        list(client.search([], [], page_size=101))
    with pytest.raises(ValueError, match="list of lists"):
        list(client.search([{"field": "sku", "operator": "eq", "value": "x"}]))  # type: ignore[list-item]
    assert plytix_sandbox.sandbox.stats()["calls"] == {}  # not even a token was fetched
    assert len(list(client.search([], ["id", "sku", *labels[:20]]))) == 200  # id and sku do not count


def test_get_and_patch_products(plytix_sandbox: Any, client: PlytixClient) -> None:
    sandbox = plytix_sandbox.sandbox
    gapped = next(p for p in sandbox.products() if p["id"] in sandbox.catalog.gapped_ids)
    missing = [label for label in GAP_CANDIDATES if label not in gapped["attributes"]]
    full = client.get_product(gapped["id"])
    assert set(full["attributes"]) == set(sandbox.catalog.attributes)  # all_attributes: nulls included
    assert all(full["attributes"][label] is None for label in missing)
    plain = client.get_product(gapped["id"], all_attributes=False)
    assert missing and not set(missing) & set(plain["attributes"])
    updated = client.patch_product(gapped["id"], {"attributes": {"workflow_stage": "approved"}})
    assert updated["attributes"]["workflow_stage"] == "approved" and updated["modified"] > gapped["modified"]
    assert sandbox.product(gapped["id"])["attributes"]["brand"] == gapped["attributes"]["brand"]
    with pytest.raises(ValueError, match="can change only"):
        client.patch_product(gapped["id"], {"sku": "renamed"})
    with pytest.raises(ValueError, match="at least one change"):
        client.patch_product(gapped["id"], {})


def test_definitions_are_listed(client: PlytixClient) -> None:
    attributes = {a["label"]: a for a in client.list_attributes()}
    assert attributes["workflow_stage"]["options"][0] == "draft"
    assert {f["name"] for f in client.list_families()} == {"Apparel", "Footwear", "Home", "Electronics"}


# ---- typed errors --------------------------------------------------------------------------------


def test_errors_are_typed_and_carry_the_api_message(plytix_sandbox: Any, client: PlytixClient) -> None:
    product_id = all_ids(plytix_sandbox)[0]
    with pytest.raises(NotFound) as missing:
        client.get_product("000000000000000000000000")
    assert missing.value.status == 404 and "No results found" in missing.value.message
    with pytest.raises(ValidationFailed) as invalid:
        client.patch_product(product_id, {"status": "Published"})
    assert invalid.value.status == 422 and "valid values are [Draft, Completed, Archived]" in str(invalid.value)
    with pytest.raises(ValidationFailed):
        list(client.search([[{"field": "attributes.nope", "operator": "exists"}]]))
    client.create_product("DUP-1")
    with pytest.raises(Conflict) as conflict:
        client.create_product("DUP-1")
    assert "same SKU" in str(conflict.value)
    assert all(isinstance(e, PlytixError) for e in (missing.value, invalid.value, conflict.value))


def test_order_on_too_many_matches_raises_order_too_broad(make_client: ClientFactory) -> None:
    with PlytixSandbox(products=60, order_limit=20).serving() as server:
        client = make_client(server)
        with pytest.raises(OrderTooBroad) as broad:
            list(client.search([], ["modified"], order="-modified"))
        assert broad.value.status == 428
        assert client.stats.calls["search"] == 1  # raised, not retried or worked around
        narrow = [[{"field": "product_level", "operator": "eq", "value": 1}]]
        stamps = [p["modified"] for p in client.search(narrow, ["modified"], order="-modified")]
        assert stamps and stamps == sorted(stamps, reverse=True)


# ---- tokens --------------------------------------------------------------------------------------


def test_token_expiry_in_the_middle_of_paging_loses_nothing(plytix_sandbox: Any, client: PlytixClient) -> None:
    seen: list[str] = []
    for number, page in enumerate(client.search_pages([], [], page_size=50)):
        seen += [p["id"] for p in page]
        if number == 1:
            plytix_sandbox.sandbox.expire_tokens()
    assert seen == all_ids(plytix_sandbox)  # every product exactly once, in order
    assert client.stats.reauthentications == 1 and client.stats.token_fetches == 2
    assert plytix_sandbox.sandbox.stats()["unauthorized"] == 1


def test_the_token_is_refreshed_before_it_expires(plytix_sandbox: Any, client: PlytixClient) -> None:
    plytix_sandbox.sandbox.configure(token_lifetime=0.5)
    product_id = all_ids(plytix_sandbox)[0]
    deadline = time.monotonic() + 5
    while client.stats.token_fetches < 3:
        client.get_product(product_id)
        assert time.monotonic() < deadline, "the client never refreshed its token"
    assert plytix_sandbox.sandbox.stats()["unauthorized"] == 0  # refreshed ahead, never after a 401


def test_concurrent_callers_share_one_refresh(plytix_sandbox: Any, client: PlytixClient) -> None:
    product_id = all_ids(plytix_sandbox)[0]
    client.get_product(product_id)
    plytix_sandbox.sandbox.expire_tokens()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.get_product(product_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors
    assert plytix_sandbox.sandbox.stats()["tokens_issued"] == 2  # one at the start, one after expiry


def test_a_401_after_a_fresh_token_is_an_auth_error(plytix_sandbox: Any, client: PlytixClient) -> None:
    plytix_sandbox.sandbox.configure(token_lifetime=0)  # every token is born expired
    with pytest.raises(AuthError):
        client.count()
    assert client.stats.reauthentications == 1 and client.stats.calls["search"] == 2


def test_bad_credentials_raise_auth_error_without_the_secret(plytix_sandbox: Any, make_client: ClientFactory,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(plytix_sandbox, api_password="s3cret-Wrong-passw0rd")
    with pytest.raises(AuthError) as refused:
        client.count()
    assert refused.value.message.startswith("Bad api_key or api_password")
    for text in (str(refused.value), repr(refused.value), repr(client), repr(client.stats), caplog.text):
        assert "s3cret-Wrong-passw0rd" not in text and DEV_API_KEY not in text


def test_secrets_and_tokens_never_reach_logs_or_reprs(plytix_sandbox: Any, client: PlytixClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fault(plytix_sandbox, "plytix.search", kind="status", status=503, retry_after=0)
    fault(plytix_sandbox, "plytix.token", kind="status", status=429, retry_after=0)
    plytix_sandbox.sandbox.configure(deprecated={"plytix.search": "soon"})
    list(client.search([], ["label"]))
    plytix_sandbox.sandbox.expire_tokens()
    client.count()
    token = client._tokens.current
    assert token and client.stats.retries == 2
    for text in (caplog.text, repr(client), repr(client._tokens), repr(vars(client))):
        assert DEV_API_PASSWORD not in text and token not in text
    assert DEV_API_KEY not in caplog.text and DEV_API_KEY not in repr(vars(client))


# ---- rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limits", [{"rate_per_10s": 3, "rate_windows": (0.3, 3600.0)},
                                    {"rate_per_hour": 3, "rate_windows": (10.0, 0.3)}],
                         ids=["10s window", "hour window"])
def test_a_429_storm_in_either_window_is_ridden_out(make_client: ClientFactory, limits: dict[str, Any]) -> None:
    sandbox = PlytixSandbox(products=100, **limits)
    with sandbox.serving() as server:
        client = make_client(server, backoff_base=0.05, max_retries=10)
        seen = [p["id"] for p in client.search([], [], page_size=10)]
        assert seen == all_ids(server)
        assert client.stats.rate_limited > 0 and client.stats.rate_limited == sandbox.stats()["rate_limited"]


def test_the_client_limiter_keeps_the_server_from_ever_answering_429(make_client: ClientFactory) -> None:
    sandbox = PlytixSandbox(products=60, rate_per_10s=3, rate_windows=(0.3, 3600.0))
    with sandbox.serving() as server:
        # A slightly wider window than the server's absorbs the network's jitter.
        client = make_client(server, limiter=RateLimiter([(3, 0.4)]))
        assert len(list(client.search([], [], page_size=10))) == 60
        assert sandbox.stats()["rate_limited"] == 0 and client.stats.limiter_wait_seconds > 0.3


def test_the_token_is_taken_after_the_wait_for_the_rate_limit_slot(make_client: ClientFactory) -> None:
    """A 1-second token and one call per 1.5 s: a token taken before the wait would be stale when sent."""
    sandbox = PlytixSandbox(products=10, token_lifetime=1.0)
    with sandbox.serving() as server:
        client = make_client(server, limiter=RateLimiter([(1, 1.5)]))
        assert client.count() == 10 and client.count() == 10
        assert client.stats.limiter_wait_seconds > 1.0
        assert client.stats.reauthentications == 0 and sandbox.stats()["unauthorized"] == 0
        assert client.stats.token_fetches == 2


def test_a_live_429_body_becomes_rate_limited_with_its_message(plytix_sandbox: Any,
                                                                make_client: ClientFactory) -> None:
    client = make_client(plytix_sandbox, max_retries=0)
    fault(plytix_sandbox, "plytix.search", kind="status", status=429)
    with pytest.raises(RateLimited) as limited:
        client.count()
    assert limited.value.status == 429 and limited.value.message == "API rate limit exceeded"


def test_retry_after_is_honoured(plytix_sandbox: Any, client: PlytixClient) -> None:
    fault(plytix_sandbox, "plytix.search", kind="status", status=429, retry_after=0.4)
    started = time.monotonic()
    assert client.count() == 200
    assert 0.4 <= time.monotonic() - started < 3
    assert client.stats.rate_limited == 1 and client.stats.retries == 1


def test_a_retry_after_longer_than_allowed_raises_at_once(plytix_sandbox: Any, client: PlytixClient) -> None:
    fault(plytix_sandbox, "plytix.search", kind="status", status=429, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(RateLimited) as limited:
        client.count()
    assert limited.value.retry_after == 3600 and time.monotonic() - started < 1


def test_exhausted_retries_raise_typed_errors(plytix_sandbox: Any, make_client: ClientFactory) -> None:
    client = make_client(plytix_sandbox, max_retries=2)
    fault(plytix_sandbox, "plytix.search", kind="status", status=429, retry_after=0, count=3)
    with pytest.raises(RateLimited):
        client.count()
    fault(plytix_sandbox, "plytix.search", kind="status", status=503, retry_after=0, count=3)
    with pytest.raises(Unavailable) as down:
        client.count()
    assert down.value.status == 503 and not down.value.outcome_unknown
    assert client.count() == 200  # the faults are used up: the client works again


# ---- server faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(plytix_sandbox: Any, client: PlytixClient, status: int) -> None:
    fault(plytix_sandbox, "plytix.search", kind="status", status=status, retry_after=0, count=2)
    assert len(list(client.search([], []))) == 200
    assert client.stats.retries == 2


def test_a_hang_past_the_timeout_is_retried(plytix_sandbox: Any, make_client: ClientFactory) -> None:
    client = make_client(plytix_sandbox, timeout=0.3)
    fault(plytix_sandbox, "plytix.search", kind="hang", seconds=6.0)
    started = time.monotonic()
    assert [p["id"] for p in client.search([], [])] == all_ids(plytix_sandbox)
    # Gave up on the hang and did not wait it out (the margin is wide so a loaded machine cannot fail it).
    assert 0.3 <= time.monotonic() - started < 4.0
    assert client.stats.retries == 1


def test_a_dropped_connection_after_a_patch_acted_leaves_one_logical_write(plytix_sandbox: Any,
                                                                           client: PlytixClient) -> None:
    sandbox = plytix_sandbox.sandbox
    product_id = all_ids(plytix_sandbox)[5]
    before = sandbox.product(product_id)
    new_stage = "published" if before["attributes"]["workflow_stage"] != "published" else "draft"
    fault(plytix_sandbox, "plytix.patch_product", kind="drop")
    result = client.patch_product(product_id, {"attributes": {"workflow_stage": new_stage}})
    assert result["attributes"]["workflow_stage"] == new_stage
    after = sandbox.product(product_id)
    assert after["attributes"]["workflow_stage"] == new_stage
    assert {k: v for k, v in after["attributes"].items() if k != "workflow_stage"} == \
        {k: v for k, v in before["attributes"].items() if k != "workflow_stage"}
    writes = sandbox.history(product_id)
    assert len(writes) == 2  # the PATCH reached the server twice ...
    assert [w["changes"] for w in writes] == [{"attributes.workflow_stage": [before["attributes"]["workflow_stage"],
                                                                            new_stage]}, {}]  # ... one change
    assert sandbox.stats()["calls"]["plytix.patch_product"] == 2


def test_a_create_is_not_retried_once_the_server_may_have_acted(plytix_sandbox: Any, client: PlytixClient) -> None:
    fault(plytix_sandbox, "plytix.create_product", kind="drop")
    with pytest.raises(Unavailable) as unknown:
        client.create_product("ONCE-1", label="Once")
    assert unknown.value.outcome_unknown
    assert [p["sku"] for p in plytix_sandbox.sandbox.products()].count("ONCE-1") == 1
    assert plytix_sandbox.sandbox.stats()["calls"]["plytix.create_product"] == 1


def test_a_create_is_retried_after_a_429(plytix_sandbox: Any, client: PlytixClient) -> None:
    fault(plytix_sandbox, "plytix.create_product", kind="status", status=429, retry_after=0)
    created = client.create_product("ONCE-2", attributes={"brand": "Contoso"}, status="Draft")
    assert created["sku"] == "ONCE-2" and created["attributes"]["brand"] == "Contoso"
    assert [p["sku"] for p in plytix_sandbox.sandbox.products()].count("ONCE-2") == 1
    assert plytix_sandbox.sandbox.stats()["calls"]["plytix.create_product"] == 2


def test_a_create_is_not_retried_after_a_server_error(plytix_sandbox: Any, client: PlytixClient) -> None:
    fault(plytix_sandbox, "plytix.create_product", kind="status", status=500)
    with pytest.raises(Unavailable) as unknown:
        client.create_product("ONCE-3")
    assert unknown.value.outcome_unknown and unknown.value.status == 500
    assert plytix_sandbox.sandbox.stats()["calls"]["plytix.create_product"] == 1


# ---- protocol hygiene ----------------------------------------------------------------------------


def test_no_trailing_slash_is_ever_sent(plytix_sandbox: Any, make_client: ClientFactory) -> None:
    client = make_client(plytix_sandbox, base_url=plytix_sandbox.url + "/", auth_url=plytix_sandbox.url + "/")
    product_id = all_ids(plytix_sandbox)[0]
    client.count()
    client.get_product(product_id)
    client.patch_product(product_id, {"label": "Renamed"})
    client.list_attributes()
    for bad in (f"{product_id}/", "a/b", "", "x?y=1"):
        with pytest.raises(ValueError, match="not a Plytix product id"):
            client.get_product(bad)
    assert "plytix.trailing_slash" not in plytix_sandbox.sandbox.stats()["calls"]


def test_a_deprecation_header_is_logged_once_per_endpoint(plytix_sandbox: Any, client: PlytixClient,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    plytix_sandbox.sandbox.configure(deprecated={"plytix.search": "sunset 2026-12-31"})
    caplog.set_level(logging.WARNING, logger="plytix_planner.shared.plytix.client")
    for _ in range(3):
        client.count()
    client.get_product(all_ids(plytix_sandbox)[0])
    notices = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(notices) == 1 and "sunset 2026-12-31" in notices[0].getMessage()


def test_from_settings_builds_a_working_client(plytix_sandbox: Any) -> None:
    settings = load_settings({"PLYTIX_API_KEY": DEV_API_KEY, "PLYTIX_API_PASSWORD": DEV_API_PASSWORD,
                              "PLYTIX_BASE_URL": plytix_sandbox.url, "PLYTIX_AUTH_URL": plytix_sandbox.url,
                              "PLYTIX_RATE_PER_10S": "50",
                              "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"})
    with PlytixClient.from_settings(settings) as client:
        assert client.count() == 200
        assert DEV_API_PASSWORD not in repr(client)


# ---- units: limiter, token cache, retry timing ---------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_limiter_spaces_calls_across_both_windows() -> None:
    clock = FakeClock()
    limiter = RateLimiter([(2, 1.0), (3, 10.0)], clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        limiter.acquire()
        starts.append(clock.now - 1000.0)
    # Two per second, but only three per ten seconds: the 4th waits for the first to leave the 10 s window.
    assert starts == [0.0, 0.0, 1.0, 10.0, 10.0]


def test_limiter_reservations_queue_concurrent_callers_in_order() -> None:
    clock = FakeClock()
    limiter = RateLimiter([(2, 1.0)], clock=clock, sleep=clock.sleep)
    waits = [limiter.reserve() for _ in range(5)]  # nobody sleeps yet: five callers at the same instant
    assert waits == [0.0, 0.0, 1.0, 1.0, 2.0]


def test_limiter_margin_widens_every_window_so_edge_calls_land_outside_the_servers() -> None:
    clock = FakeClock()
    limiter = RateLimiter([(2, 1.0), (3, 10.0)], margin=0.25, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(4):
        limiter.acquire()
        starts.append(clock.now - 1000.0)
    assert starts == [0.0, 0.0, 1.25, 10.25]


def test_a_full_server_window_holds_back_every_caller_until_it_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter([(5, 1.0)], clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.hold(3.0)  # a 429 said the window ends in 3 s (another instance used it up)
    assert [limiter.reserve() for _ in range(2)] == [3.0, 3.0]
    limiter.hold(1.0)  # a shorter hold never brings a booked slot forward
    assert limiter.reserve() == 3.0


def test_token_cache_refreshes_ahead_of_expiry_and_once_per_invalidation() -> None:
    clock = FakeClock()
    issued: list[str] = []

    def fetch() -> str:
        # The server's clock is far off on purpose: only exp - iat may matter.
        issued.append(jwt(iat=5_000_000.0, exp=5_000_900.0, jti=str(len(issued))))
        return issued[-1]

    cache = TokenCache(fetch, clock=clock)
    first = cache.get()
    clock.now += 839
    assert cache.get() == first and len(issued) == 1
    clock.now += 2  # 841 s: within the 60 s margin of the 900 s lifetime
    cache.get()
    assert len(issued) == 2
    cache.invalidate(first)  # a stale token from another thread does not drop the fresh one
    assert cache.get() == issued[1] and len(issued) == 2
    cache.invalidate(issued[1])
    cache.get()
    assert len(issued) == 3
    assert issued[2] not in repr(cache)


def test_token_lifetime_reads_the_jwt_and_tolerates_other_tokens() -> None:
    assert token_lifetime(jwt(iat=10.0, exp=12.5)) == 2.5
    assert token_lifetime("opaque-token") is None
    assert token_lifetime("a.b.c") is None


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("-3") == 0.0


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    assert [backoff_delay(n, base=0.5, cap=30, rand=lambda: 0.0) for n in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert backoff_delay(3, base=0.5, cap=30, rand=lambda: 1.0) == 4.0
    assert backoff_delay(20, base=0.5, cap=30, rand=lambda: 1.0) == 30.0


def jwt(*, iat: float, exp: float, jti: str = "1") -> str:

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'iat': iat, 'exp': exp, 'jti': jti})}.sig"


def test_a_full_hourly_window_raises_instead_of_sleeping_through_it() -> None:
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter([(3, 3600.0)], clock=lambda: now[0], sleep=slept.append)
    for _ in range(3):
        limiter.acquire(max_wait=60)
    with pytest.raises(WaitTooLong) as caught:
        limiter.acquire(max_wait=60)
    assert caught.value.wait == pytest.approx(3600) and slept == []
    assert limiter.reserve() == pytest.approx(3600), "the refused call booked no slot"


def test_the_client_reports_an_exhausted_hourly_budget_as_rate_limited(plytix_sandbox: Any) -> None:
    with PlytixClient(base_url=plytix_sandbox.url, auth_url=plytix_sandbox.url, api_key=DEV_API_KEY,
                      api_password=DEV_API_PASSWORD, rate_per_10s=100, rate_per_hour=2,
                      max_retry_after=60) as client:
        client.count([])
        client.count([])
        with pytest.raises(RateLimited) as caught:
            client.count([])  # the hour's two searches are used: no sleeping for an hour
    assert caught.value.retry_after is not None and caught.value.retry_after > 3000
