"""The Plytix stand-in behaves as API_FACTS.md and the Postman collection say, over real HTTP.

Expected search results are computed independently, by brute force over the raw catalog records, so a
wrong filter implementation fails here rather than silently agreeing with a wrong client."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Callable, Iterator

import httpx
import pytest

from sandbox.base import Request
from sandbox.catalog import COMPLETENESS_OF, GAP_CANDIDATES, WORKFLOW_STAGES, build_catalog, is_empty
from sandbox.plytix import DEV_API_KEY, DEV_API_PASSWORD, PlytixSandbox

MODIFIED_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def get_token(url: str) -> str:
    credentials = {"api_key": DEV_API_KEY, "api_password": DEV_API_PASSWORD}
    response = httpx.post(f"{url}/auth/api/get-token", json=credentials)
    assert response.status_code == 200, response.text
    return response.json()["data"][0]["access_token"]


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {get_token(url)}"}, follow_redirects=False)


def poll_until(check: Callable[[], bool], deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {deadline_s}s")
        time.sleep(0.02)


@pytest.fixture
def api(plytix_sandbox: Any) -> Iterator[httpx.Client]:
    """A client of a fresh sandbox, for tests that change something."""
    with api_client(plytix_sandbox.url) as client:
        yield client


@pytest.fixture(scope="module")
def shared() -> Iterator[Any]:
    """One sandbox for the read-only tests (starting and stopping a server costs about 0.5 s)."""
    with PlytixSandbox(products=200, seed=7).serving() as server:
        yield server


@pytest.fixture(scope="module")
def reader(shared: Any) -> Iterator[httpx.Client]:
    with api_client(shared.url) as client:
        yield client


def search(api: httpx.Client, **body: Any) -> httpx.Response:
    return api.post("/api/v1/products/search", json=body)


def all_ids(api: httpx.Client, filters: list[Any], **extra: Any) -> list[str]:
    ids, page = [], 1
    while True:
        response = search(api, filters=filters, pagination={"page": page, "page_size": 100, **extra})
        assert response.status_code == 200, response.text
        batch = response.json()["data"]
        ids += [p["id"] for p in batch]
        if len(batch) < 100:
            return ids
        page += 1


# ---- auth ----------------------------------------------------------------------------------------


def test_token_is_jwt_shaped_with_the_configured_lifetime(plytix_sandbox: Any) -> None:
    token = get_token(plytix_sandbox.url)
    assert token.count(".") == 2
    assert claims(token)["exp"] - claims(token)["iat"] == pytest.approx(900, abs=1e-3)
    plytix_sandbox.sandbox.configure(token_lifetime=42)
    later = claims(get_token(plytix_sandbox.url))
    assert later["exp"] - later["iat"] == pytest.approx(42, abs=1e-3)


def test_bad_credentials_get_401_with_the_documented_body_and_no_secret(plytix_sandbox: Any) -> None:
    response = httpx.post(f"{plytix_sandbox.url}/auth/api/get-token",
                          json={"api_key": DEV_API_KEY, "api_password": "not-the-password-123"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["msg"].startswith("Bad api_key or api_password")
    assert isinstance(error["errors"], list)
    assert "not-the-password-123" not in response.text


def test_token_endpoint_has_its_own_limit_of_about_8_per_second() -> None:
    body = {"api_key": DEV_API_KEY, "api_password": DEV_API_PASSWORD}
    sandbox = PlytixSandbox(products=10, token_window=30.0)  # nine requests always fit in one window
    with sandbox.serving() as server, httpx.Client(base_url=server.url) as http:
        statuses = [http.post("/auth/api/get-token", json=body).status_code for _ in range(9)]
    assert statuses[:8] == [200] * 8
    assert statuses[8] == 429


def test_api_requires_a_valid_bearer_token(plytix_sandbox: Any) -> None:
    url, token = plytix_sandbox.url, get_token(plytix_sandbox.url)
    path = f"{url}/api/v1/filters/product"
    missing = httpx.get(path)
    assert missing.status_code == 401 and missing.json()["error"]["msg"] == "Missing Authorization Header"
    assert httpx.get(path, headers={"Authorization": f"bearer {token}"}).status_code == 401  # case matters
    assert httpx.get(path, headers={"Authorization": f"Bearer {token[:-2]}xx"}).status_code == 401
    assert httpx.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.post(f"{url}/_sandbox/tokens/expire").status_code == 204
    expired = httpx.get(path, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and expired.json()["error"]["msg"] == "Token has expired"


def test_a_token_stops_working_when_its_lifetime_is_over(plytix_sandbox: Any) -> None:
    # 2 s, not less: on a loaded machine the first call can take a few hundred milliseconds to arrive.
    plytix_sandbox.sandbox.configure(token_lifetime=2.0)
    headers = {"Authorization": f"Bearer {get_token(plytix_sandbox.url)}"}
    path = f"{plytix_sandbox.url}/api/v1/filters/product"
    assert httpx.get(path, headers=headers).status_code == 200
    poll_until(lambda: httpx.get(path, headers=headers).status_code == 401, deadline_s=8)


# ---- search --------------------------------------------------------------------------------------


def test_there_is_no_list_endpoint(reader: httpx.Client) -> None:
    assert reader.get("/api/v1/products").status_code == 405


def test_search_defaults_to_page_1_of_25_with_only_id_and_sku(reader: httpx.Client) -> None:
    response = search(reader)
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"count": 25, "order": "", "page": 1, "page_size": 25, "total_count": 200}
    for item in body["data"]:
        # The collection's "Minimum search query" example: id, sku, num_variations, empty attributes,
        # and _parent_id on variants.
        assert set(item) <= {"id", "sku", "num_variations", "attributes", "_parent_id"}
        assert item["attributes"] == {}


def test_unordered_pages_follow_a_stable_insertion_order(shared: Any, reader: httpx.Client) -> None:
    expected = [p["id"] for p in shared.sandbox.products()]
    assert all_ids(reader, []) == expected
    assert all_ids(reader, []) == expected


def _value(product: dict[str, Any], key: str) -> Any:
    if key.startswith("attributes."):
        return product["attributes"].get(key[len("attributes."):])
    return product.get(key)


# name -> (condition, the same condition as a Python predicate), built from the raw catalog records.
Case = Callable[[list[dict[str, Any]]], tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]]
OPERATOR_CASES: list[tuple[str, Case]] = [
    ("exists", lambda ps: ({"field": "attributes.description_de", "operator": "exists"},
                           lambda p: not is_empty(_value(p, "attributes.description_de")))),
    ("!exists", lambda ps: ({"field": "attributes.images", "operator": "!exists"},
                            lambda p: is_empty(_value(p, "attributes.images")))),
    ("eq ignores case", lambda ps: ({"field": "sku", "operator": "eq", "value": ps[5]["sku"].lower()},
                                    lambda p: p["sku"].lower() == ps[5]["sku"].lower())),
    ("!eq", lambda ps: ({"field": "attributes.brand", "operator": "!eq", "value": "Contoso"},
                        lambda p: _value(p, "attributes.brand") != "Contoso")),
    ("like", lambda ps: ({"field": "label", "operator": "like", "value": "MUG"},
                         lambda p: "mug" in p["label"].lower())),
    ("in", lambda ps: ({"field": "attributes.workflow_stage", "operator": "in", "value": ["approved", "published"]},
                       lambda p: _value(p, "attributes.workflow_stage") in ("approved", "published"))),
    ("!in", lambda ps: ({"field": "status", "operator": "!in", "value": ["Draft"]},
                        lambda p: p["status"] != "Draft")),
    ("gt", lambda ps: ({"field": "attributes.weight_kg", "operator": "gt", "value": 1.0},
                       lambda p: (_value(p, "attributes.weight_kg") or 0) > 1.0)),
    ("lte", lambda ps: ({"field": "attributes.weight_kg", "operator": "lte", "value": 0.5},
                        lambda p: (_value(p, "attributes.weight_kg") or 99) <= 0.5)),
    ("modified gte", lambda ps: ({"field": "modified", "operator": "gte", "value": ps[100]["modified"]},
                                 lambda p: p["modified"] >= ps[100]["modified"])),
    ("created lt date", lambda ps: ({"field": "created", "operator": "lt", "value": "2024-06-01"},
                                    lambda p: p["created"] < "2024-06-01")),
    ("categories in", lambda ps: ({"field": "categories", "operator": "in", "value": ps[0]["categories"]},
                                  lambda p: bool(set(p["categories"]) & set(ps[0]["categories"])))),
    ("multiselect in", lambda ps: ({"field": "attributes.channels", "operator": "in", "value": ["zalando"]},
                                   lambda p: "zalando" in (_value(p, "attributes.channels") or []))),
    ("text_search", lambda ps: ({"field": ["label", "attributes.description_en"], "operator": "text_search",
                                 "value": "merino"},
                                lambda p: "merino" in p["label"].lower()
                                or "merino" in (_value(p, "attributes.description_en") or "").lower())),
    ("product_level", lambda ps: ({"field": "product_level", "operator": "eq", "value": 1},
                                  lambda p: p["product_type"] == "PARENT")),
    ("_is_variation", lambda ps: ({"field": "_is_variation", "operator": "eq", "value": True},
                                  lambda p: p["product_level"] == 2)),
]


@pytest.mark.parametrize("name, case", OPERATOR_CASES, ids=[c[0] for c in OPERATOR_CASES])
def test_every_operator_matches_a_brute_force_scan(shared: Any, reader: httpx.Client, name: str,
                                                   case: Callable[..., Any]) -> None:
    products = shared.sandbox.products()
    condition, predicate = case(products)
    expected = [p["id"] for p in products if predicate(p)]
    assert 0 < len(expected) < len(products), f"{name}: the case must split the catalog to prove anything"
    assert all_ids(reader, [[condition]]) == expected


def test_conditions_are_anded_inside_a_list_and_ored_between_lists(shared: Any, reader: httpx.Client) -> None:
    products = shared.sandbox.products()
    brand = products[0]["attributes"]["brand"]
    filters = [[{"field": "attributes.brand", "operator": "eq", "value": brand},
                {"field": "attributes.workflow_stage", "operator": "eq", "value": "enrichment"}],
               [{"field": "status", "operator": "eq", "value": "Archived"}]]
    expected = [p["id"] for p in products
                if (p["attributes"].get("brand") == brand and p["attributes"].get("workflow_stage") == "enrichment")
                or p["status"] == "Archived"]
    assert len(expected) > 2
    assert all_ids(reader, filters) == expected


@pytest.mark.parametrize("body, field", [
    ({"filters": [[{"field": "nonsense", "operator": "eq", "value": 1}]]}, "nonsense"),
    ({"filters": [[{"field": "attributes.no_such_label", "operator": "exists"}]]}, "attributes.no_such_label"),
    ({"filters": [[{"field": "status", "operator": "like", "value": "Dr"}]]}, "status"),
    ({"filters": [[{"field": "attributes.brand", "operator": "in", "value": "Contoso"}]]}, "attributes.brand"),
    ({"filters": [{"field": "sku", "operator": "eq", "value": "x"}]}, "filters"),
    ({"pagination": {"page_size": 101}}, "pagination.page_size"),
    ({"pagination": {"page": 0}}, "pagination.page"),
    ({"attributes": ["attributes.no_such_label"]}, "attributes.no_such_label"),
    ({"attributes": [f"attributes.a{i}" for i in range(51)]}, "schema"),
    ({"pagination": {"order": "nonsense"}}, "pagination.order"),
])
def test_invalid_searches_get_422_naming_the_problem(reader: httpx.Client, body: dict[str, Any],
                                                     field: str) -> None:
    response = search(reader, **body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["error"]["errors"]]


def test_fifty_attributes_are_accepted(shared: Any, reader: httpx.Client) -> None:
    labels = [f"attributes.{label}" for label in shared.sandbox.catalog.attributes]
    columns = (labels + ["label", "status", "modified", "created", "gtin", "categories", "static_lists", "assets",
                         "images", "thumbnail", "product_level", "_is_variation", "_has_variations"])
    assert len(columns) < 50
    assert search(reader, attributes=columns).status_code == 200


def test_requested_attributes_come_back_and_empty_ones_are_omitted(shared: Any, reader: httpx.Client) -> None:
    sandbox = shared.sandbox
    gapped = next(p for p in sandbox.products() if p["id"] in sandbox.catalog.gapped_ids)
    missing = next(label for label in GAP_CANDIDATES if label not in gapped["attributes"])
    columns = ["label", "modified", "attributes.brand", f"attributes.{missing}", "attributes.images"]
    by_sku = [[{"field": "sku", "operator": "eq", "value": gapped["sku"]}]]
    response = search(reader, filters=by_sku, attributes=columns)
    item = response.json()["data"][0]
    assert item["label"] == gapped["label"] and item["modified"] == gapped["modified"]
    assert item["attributes"]["brand"] == gapped["attributes"]["brand"]
    assert missing not in item["attributes"]
    if "images" in item["attributes"]:  # media come back as {"id"} references in searches
        assert all(set(asset) == {"id"} for asset in item["attributes"]["images"])


def test_order_sorts_and_428_when_too_many_products_match() -> None:
    sandbox = PlytixSandbox(products=120, seed=3, order_limit=50)
    with sandbox.serving() as server, api_client(server.url) as api:
        too_broad = search(api, pagination={"order": "-modified"})
        assert too_broad.status_code == 428
        assert too_broad.json()["error"]["msg"]
        assert search(api).status_code == 200  # the same query without order is fine
        narrow = [[{"field": "product_level", "operator": "eq", "value": 1}]]
        response = search(api, filters=narrow, attributes=["modified"],
                          pagination={"order": "-modified", "page_size": 100})
        assert response.status_code == 200
        stamps = [p["modified"] for p in response.json()["data"]]
        assert 1 < len(stamps) <= 50 and stamps == sorted(stamps, reverse=True)
        by_sku = search(api, filters=narrow, pagination={"order": "sku", "page_size": 100}).json()["data"]
        skus = [p["sku"] for p in by_sku]
        assert skus == sorted(skus)


def test_a_10k_catalog_pages_through_every_product_once() -> None:
    """In-process through the app's own routing, auth and JSON encoding. How fast a page is belongs to
    bench/plytix_calls.py (search wall time per catalog size), not to a timed test that a loaded CI
    machine would fail by chance."""
    sandbox = PlytixSandbox(products=10_000, seed=7)
    with sandbox.serving() as server:
        token = get_token(server.url)
    route, _, _ = sandbox.app.match("POST", "/api/v1/products/search")
    assert route is not None
    columns = ["label", "modified", "status", "attributes.workflow_stage", "attributes.description_en",
               "attributes.description_de", "attributes.images", "attributes.brand", "attributes.weight_kg"]
    ids: set[str] = set()
    for page in range(1, 101):
        body = json.dumps({"attributes": columns, "pagination": {"page": page, "page_size": 100}}).encode()
        request = Request("POST", "/api/v1/products/search", {}, {"authorization": f"Bearer {token}"}, body)
        data = json.loads(json.dumps(route.handler(request).body))["data"]
        assert len(data) == 100
        ids.update(product["id"] for product in data)
    assert len(ids) == 10_000


# ---- single products -----------------------------------------------------------------------------


def test_get_product_omits_empty_attributes_unless_all_attributes(shared: Any, reader: httpx.Client) -> None:
    sandbox = shared.sandbox
    gapped = next(p for p in sandbox.products() if p["id"] in sandbox.catalog.gapped_ids)
    missing = [label for label in GAP_CANDIDATES if label not in gapped["attributes"]]
    plain = reader.get(f"/api/v1/products/{gapped['id']}").json()["data"][0]
    assert not set(missing) & set(plain["attributes"])
    assert plain["categories"][0]["path"][-1] == plain["categories"][0]["name"]
    full = reader.get(f"/api/v1/products/{gapped['id']}", params={"all_attributes": "true"}).json()["data"][0]
    assert all(full["attributes"][label] is None for label in missing)
    assert set(full["attributes"]) == set(sandbox.catalog.attributes)


def test_missing_product_gets_the_documented_404(reader: httpx.Client) -> None:
    response = reader.get("/api/v1/products/000000000000000000000000")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["errors"] == [{"field": "id", "msg": "product does not exist"}]
    assert "No results found for 000000000000000000000000" in error["msg"]


def test_create_requires_a_unique_case_sensitive_sku(api: httpx.Client) -> None:
    assert api.post("/api/v1/products", json={"label": "no sku"}).status_code == 422
    created = api.post("/api/v1/products",
                       json={"sku": "NEW-1", "label": "New", "attributes": {"brand": "Contoso"}})
    assert created.status_code == 201
    product = created.json()["data"][0]
    assert created.headers["Location"].endswith(f"/api/v1/products/{product['id']}")
    assert product["status"] == "Draft" and product["attributes"]["brand"] == "Contoso"
    assert MODIFIED_FORMAT.match(product["modified"])
    duplicate = api.post("/api/v1/products", json={"sku": "NEW-1"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["errors"][0] == {"field": "sku",
                                                      "msg": "A product with the same SKU already exists"}
    assert api.post("/api/v1/products", json={"sku": "new-1"}).status_code == 201
    assert api.get(f"/api/v1/products/{product['id']}").status_code == 200


def test_patch_merges_attributes_and_bumps_modified(plytix_sandbox: Any, api: httpx.Client) -> None:
    sandbox = plytix_sandbox.sandbox
    before = sandbox.products()[3]
    response = api.patch(f"/api/v1/products/{before['id']}",
                         json={"attributes": {"workflow_stage": "approved", "short_description": None},
                               "status": "Completed"})
    assert response.status_code == 200
    after = sandbox.product(before["id"])
    assert after["attributes"]["workflow_stage"] == "approved" and after["status"] == "Completed"
    assert "short_description" not in after["attributes"]
    assert after["attributes"]["brand"] == before["attributes"]["brand"]  # untouched values stay
    assert MODIFIED_FORMAT.match(after["modified"]) and after["modified"] > before["modified"]
    assert response.json()["data"][0]["modified"] == after["modified"]
    again = api.patch(f"/api/v1/products/{before['id']}", json={"attributes": {"workflow_stage": "approved"}})
    assert again.json()["data"][0]["modified"] > after["modified"]  # every write changes modified
    assert [h["changes"] != {} for h in sandbox.history(before["id"])] == [True, False]


@pytest.mark.parametrize("body, field, message", [
    ({"status": "Published"}, "status", "Value is not valid, valid values are [Draft, Completed, Archived]"),
    ({"attributes": {"no_such_label": "x"}}, "no_such_label", "label does not exist"),
    ({"attributes": {"workflow_stage": "shipped"}}, "workflow_stage", "is not a valid value"),
    ({"attributes": {"weight_kg": "heavy"}}, "weight_kg", "Not a valid decimal value"),
    ({"attributes": {"content_completeness": 100}}, "content_completeness", "computed"),
])
def test_invalid_patches_get_422_and_change_nothing(plytix_sandbox: Any, api: httpx.Client, body: dict[str, Any],
                                                    field: str, message: str) -> None:
    product = plytix_sandbox.sandbox.products()[0]
    body = {**body, "label": "should not be applied"}
    response = api.patch(f"/api/v1/products/{product['id']}", json=body)
    assert response.status_code == 422
    errors = response.json()["error"]["errors"]
    assert any(e["field"] == field and message in e["msg"] for e in errors), errors
    assert plytix_sandbox.sandbox.product(product["id"]) == product


def test_delete_answers_204_and_removes_the_variants(plytix_sandbox: Any, api: httpx.Client) -> None:
    products = plytix_sandbox.sandbox.products()
    parent = next(p for p in products if p["product_type"] == "PARENT")
    variants = [p["id"] for p in products if p["_parent_id"] == parent["id"]]
    assert variants
    assert api.delete(f"/api/v1/products/{parent['id']}").status_code == 204
    for gone in [parent["id"], *variants]:
        assert api.get(f"/api/v1/products/{gone}").status_code == 404
    assert search(api).json()["pagination"]["total_count"] == len(products) - 1 - len(variants)
    assert api.delete(f"/api/v1/products/{parent['id']}").status_code == 404


def test_a_trailing_slash_answers_a_redirect_without_the_slash(shared: Any, reader: httpx.Client) -> None:
    response = reader.post("/api/v1/products/search/", json={})
    assert response.status_code == 308 and response.headers["Location"] == "/api/v1/products/search"
    product_id = shared.sandbox.products()[0]["id"]
    response = reader.get(f"/api/v1/products/{product_id}/", params={"all_attributes": "true"})
    assert response.status_code == 308
    assert response.headers["Location"] == f"/api/v1/products/{product_id}?all_attributes=true"


def test_a_deprecation_notice_is_sent_as_a_header_when_configured(plytix_sandbox: Any, api: httpx.Client) -> None:
    assert "X-Plytix-Deprecation" not in search(api).headers
    plytix_sandbox.sandbox.configure(deprecated={"plytix.search": "removal 2026-12-31"})
    assert search(api).headers["X-Plytix-Deprecation"] == "removal 2026-12-31"


# ---- rate limits ---------------------------------------------------------------------------------


def test_the_10_second_window_answers_429_until_it_frees() -> None:
    sandbox = PlytixSandbox(products=10, rate_per_10s=3, rate_windows=(2.0, 3600.0))
    with sandbox.serving() as server, api_client(server.url) as api:
        statuses = [search(api).status_code for _ in range(5)]
        assert statuses[:3] == [200] * 3 and statuses[3:] == [429, 429]
        limited = search(api)
        assert "Retry-After" not in limited.headers  # UNVERIFIED for the real API: off by default
        # The live 429 body (API_FACTS.md): message and the window's figures, no v1 error wrapper.
        body = limited.json()
        assert set(body) == {"message", "limit", "window_size", "ttl"}
        assert body["limit"] == 3 and body["window_size"] == 2 and 1 <= body["ttl"] <= 2
        sandbox.configure(retry_after=True)
        assert 1 <= int(search(api).headers["Retry-After"]) <= 2  # whole seconds left in the 2 s window
        poll_until(lambda: search(api).status_code == 200, deadline_s=8)
        assert sandbox.stats()["rate_limited"] >= 4


def test_the_hourly_window_answers_429_until_it_frees() -> None:
    sandbox = PlytixSandbox(products=10, rate_per_hour=4, rate_windows=(10.0, 2.0))
    with sandbox.serving() as server, api_client(server.url) as api:
        statuses = [search(api).status_code for _ in range(6)]
        assert statuses == [200] * 4 + [429, 429]
        poll_until(lambda: search(api).status_code == 200, deadline_s=8)


# ---- admin API and catalog -----------------------------------------------------------------------


def test_ui_edits_through_the_admin_api_bump_modified(plytix_sandbox: Any) -> None:
    sandbox = plytix_sandbox.sandbox
    before = sandbox.products()[7]
    url = f"{plytix_sandbox.url}/_sandbox/products/{before['id']}"
    response = httpx.patch(url, json={"attributes": {"description_de": "Neu"}, "status": "Completed"})
    assert response.status_code == 200
    raw = httpx.get(url).json()
    assert raw["attributes"]["description_de"] == "Neu" and raw["status"] == "Completed"
    assert raw["modified"] > before["modified"]
    assert raw["_history"][-1]["by"] == "ui"
    old = before["attributes"].get("description_de")
    assert raw["_history"][-1]["changes"]["attributes.description_de"] == [old, "Neu"]
    assert httpx.patch(url, json={"status": "Published"}).status_code == 422


def test_config_and_stats_over_http(plytix_sandbox: Any, api: httpx.Client) -> None:
    url = plytix_sandbox.url
    assert httpx.post(f"{url}/_sandbox/config", json={"rate_per_10s": 0}).status_code == 422
    assert httpx.post(f"{url}/_sandbox/config", json={"nonsense": 1}).status_code == 422
    applied = httpx.post(f"{url}/_sandbox/config", json={"rate_per_hour": 5000, "retry_after": True})
    assert applied.status_code == 200 and applied.json()["rate_per_hour"] == 5000
    search(api)
    stats = httpx.get(f"{url}/_sandbox/stats").json()
    assert stats["products"] == 200 and stats["tokens_issued"] == 1
    assert stats["calls"]["plytix.search"] == 1 and stats["config"]["retry_after"] is True


# ---- strict (documented) and rich search ------------------------------------------------------------

DOCUMENTED_SYSTEM_KEYS = {"sku", "label", "categories", "static_lists", "assets", "images", "thumbnail", "modified",
                          "created", "status", "gtin", "product_level"}


def test_strict_search_lists_only_the_documented_fields(shared: Any, reader: httpx.Client) -> None:
    listing = reader.get("/api/v1/filters/product").json()["data"][0]
    keys = {f["key"] for f in listing["attributes"]}
    custom = {f"attributes.{label}" for label in shared.sandbox.catalog.attributes}
    assert keys == DOCUMENTED_SYSTEM_KEYS | custom


@pytest.mark.parametrize("body, field", [
    ({"filters": [[{"field": "id", "operator": "in", "value": ["x"]}]]}, "id"),
    ({"filters": [[{"field": "product_family_id", "operator": "exists"}]]}, "product_family_id"),
    ({"attributes": ["product_family_id"]}, "product_family_id"),
    ({"attributes": ["label", "product_type"]}, "product_type"),
])
def test_strict_search_rejects_unlisted_fields_with_plytix_422(reader: httpx.Client, body: dict[str, Any],
                                                                field: str) -> None:
    response = search(reader, **body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["msg"] and field in [e["field"] for e in error["errors"]]


def test_rich_search_lists_and_returns_the_family() -> None:
    sandbox = PlytixSandbox(products=20, seed=7, rich_search=True)
    with sandbox.serving() as server, api_client(server.url) as api:
        keys = {f["key"] for f in api.get("/api/v1/filters/product").json()["data"][0]["attributes"]}
        assert {"id", "product_family_id", "product_type"} <= keys
        first = sandbox.products()[0]
        by_id = [[{"field": "id", "operator": "in", "value": [first["id"]]}]]
        item = search(api, filters=by_id, attributes=["product_family_id", "product_type"]).json()["data"][0]
        assert item["product_family_id"] == first["product_family_id"] and item["product_type"] == first["product_type"]


def test_get_product_gives_the_family_that_strict_search_does_not(shared: Any, reader: httpx.Client) -> None:
    first = shared.sandbox.products()[0]
    item = search(reader, attributes=["label", "product_level"], pagination={"page_size": 1}).json()["data"][0]
    assert "product_family_id" not in item and item["product_level"] == first["product_level"]
    product = reader.get(f"/api/v1/products/{first['id']}").json()["data"][0]
    assert product["product_family_id"] == first["product_family_id"]


def test_injected_faults_use_each_service_s_error_body(plytix_sandbox: Any, graph_sandbox: Any,
                                                       api: httpx.Client) -> None:
    httpx.post(f"{plytix_sandbox.url}/_sandbox/faults", json={"endpoint": "plytix.search", "kind": "status",
                                                              "status": 429}).raise_for_status()
    httpx.post(f"{plytix_sandbox.url}/_sandbox/faults", json={"endpoint": "plytix.search", "kind": "status",
                                                              "status": 503}).raise_for_status()
    assert set(search(api).json()) == {"message", "limit", "window_size", "ttl"}
    assert search(api).json()["error"]["msg"]
    httpx.post(f"{graph_sandbox.url}/_sandbox/faults", json={"endpoint": "graph.get_plan", "kind": "status",
                                                             "status": 503}).raise_for_status()
    answer = httpx.get(f"{graph_sandbox.url}/v1.0/planner/plans/any", headers={"Authorization": "Bearer x"})
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "serviceNotAvailable" and error["message"]
    assert set(error["innerError"]) == {"request-id", "date"}


def test_definition_endpoints_describe_the_catalog(reader: httpx.Client) -> None:
    api = reader
    listing = api.get("/api/v1/filters/product").json()["data"][0]
    fields = {f["key"]: f for f in listing["attributes"]}
    assert fields["attributes.workflow_stage"]["options"] == list(WORKFLOW_STAGES)
    assert fields["modified"]["operators"] == ["exists", "!exists", "eq", "gt", "gte", "lt", "lte"]
    assert {p["key"] for p in listing["properties"]} == {"_is_variation", "_has_variations"}
    attributes = {a["label"]: a for a in api.post("/api/v1/attributes/product/search", json={
        "pagination": {"page_size": 100}}).json()["data"]}
    assert attributes["description_html"]["type_class"] == "HtmlAttribute"
    assert attributes["images"]["type_class"] == "MediaGalleryAttribute"
    assert [a["label"] for a in attributes["content_completeness"]["attributes"]] == list(COMPLETENESS_OF)
    families = api.post("/api/v1/product_families/search", json={}).json()["data"]
    assert {f["name"] for f in families} == {"Apparel", "Footwear", "Home", "Electronics"}
    assert sum(f["total_products"] for f in families) == 200
    linked = api.get(f"/api/v1/product_families/{families[0]['id']}/attributes").json()["data"]
    assert "workflow_stage" in {a["label"] for a in linked}
    roots = api.post("/api/v1/categories/product/search", json={
        "filters": [[{"field": "parent_id", "operator": "!exists"}]], "attributes": ["name", "n_children"]}).json()
    assert roots["pagination"]["total_count"] == 4
    assert all(set(c) == {"id", "name", "n_children"} for c in roots["data"])


def test_the_catalog_is_deterministic_and_has_exactly_the_requested_gaps() -> None:
    first, second = build_catalog(200, 7, 0.1), build_catalog(200, 7, 0.1)
    assert first.products == second.products
    assert build_catalog(200, 8, 0.1).products != first.products
    assert len(first.gapped_ids) == 20
    for product in first.products:
        has_gap = any(label not in product["attributes"] for label in GAP_CANDIDATES)
        assert has_gap == (product["id"] in first.gapped_ids)
    assert len(build_catalog(200, 7, 0.0).gapped_ids) == 0
