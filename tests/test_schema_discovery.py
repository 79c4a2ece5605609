"""Scans against what Plytix really lists and returns: the strict sandbox (the default, as documented)
and the rich one. Family and level come from `GET /products/{id}` only where a rule needs them, cached in
Table Storage; a pass over an unchanged catalog costs no extra call; work that a failed plan listing
blocked is done by the next incremental pass."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from sandbox.plytix import PlytixSandbox
from shared.feed import ProductFeed
from shared.rules import AccountMismatch
from shared.scan import ScanDeps, run_full_scan, run_incremental_scan
from shared.store import TableStores
from tests.scan_world import RULE_ID, RULES_YAML, build_deps, rules_yaml, world_settings
from tests.test_scan import our_tasks


def plytix_calls(server: Any) -> dict[str, int]:
    """Calls per endpoint since the last reset, as the Plytix stand-in counted them."""
    calls = httpx.get(f"{server.url}/_sandbox/calls").json()["calls"]
    httpx.delete(f"{server.url}/_sandbox/calls")
    return calls


def finding_products(deps: ScanDeps) -> set[str]:
    return {link.product_id for link in deps.stores.links.list_rule(RULE_ID) if link.product_id}


@pytest.fixture
def rich_world(graph_sandbox: Any, azurite: str, table_prefix: str, tmp_path: Path) -> Iterator[dict]:
    """The `world` fixture's setup with a Plytix stand-in in rich search mode."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    with PlytixSandbox(products=200, seed=7, rich_search=True).serving() as plytix:
        settings = world_settings(plytix.url, graph_sandbox.url, azurite, table_prefix, rules, GROUP_THRESHOLD=1000)
        deps = build_deps(settings, claim_timeout=timedelta(0))
        yield {"deps": deps, "plytix": plytix, "graph": graph_sandbox}
        deps.plytix.close()
        deps.planner.close()


def test_strict_sweep_reads_families_once_and_an_unchanged_catalog_costs_nothing_extra(world):
    deps, plytix = world["deps"], world["plytix"]
    sandbox = plytix.sandbox
    first = run_full_scan(deps)
    calls = plytix_calls(plytix)
    linked = finding_products(deps)
    assert first.findings > 0 and calls["plytix.get_product"] == len(linked), \
        "one GET per product with a finding (its task is routed and grouped by family), none for the rest"
    other_instance = TableStores.from_settings(deps.settings)  # the table, not this process's memory
    for product_id in linked:
        record = sandbox.product(product_id)
        entry = other_instance.families.lookup(product_id, record["modified"])
        assert entry is not None and entry.family_id == record["product_family_id"]
    other_instance.close()

    reads_before = deps.stores.stats.count(table="families")
    assert run_full_scan(deps).done == {}
    steady = plytix_calls(plytix)
    assert steady == {"plytix.search": 2}, "steady state: the searches alone (filters and families are cached)"
    assert deps.stores.stats.count(table="families") == reads_before, "a warm instance reads no cache rows"

    edited = sorted(linked)[0]
    sandbox.edit_product(edited, label="renamed, still incomplete")
    run_full_scan(deps)
    assert plytix_calls(plytix).get("plytix.get_product") == 1, "only the changed product is read again"


def test_strict_sweep_routes_by_family_from_the_get(world, tmp_path: Path):
    deps = world["deps"]
    sandbox = world["plytix"].sandbox
    rules = tmp_path / "by-family.yaml"
    rules.write_text(RULES_YAML.replace("    require:", "    owners: {default: content.editor@contoso.example, "
                                        "by_family: {Home: merch.lead@contoso.example}}\n    require:"))
    deps = build_deps(deps.settings.model_copy(update={"RULES_FILE": str(rules)}), stores=deps.stores)
    report = run_full_scan(deps, dry_run=True)
    home = sandbox.catalog.family_by_name("Home").id
    owners = {a.product_id: a.desired.owner_upn for a in report.planned if a.desired is not None}
    assert owners and any(sandbox.product(p)["product_family_id"] == home for p in owners)
    for product_id, owner in owners.items():
        is_home = sandbox.product(product_id)["product_family_id"] == home
        assert owner == ("merch.lead@contoso.example" if is_home else "content.editor@contoso.example")


def test_a_family_selector_reads_only_products_the_rest_of_its_selector_takes(world, tmp_path: Path):
    deps, plytix = world["deps"], world["plytix"]
    sandbox = plytix.sandbox
    rules = tmp_path / "home.yaml"
    rules.write_text(rules_yaml(RULE_ID, "{families: [Home], status: [Draft]}", "[short_description]"))
    deps = build_deps(deps.settings.model_copy(update={"RULES_FILE": str(rules)}), stores=deps.stores)
    plytix_calls(plytix)
    report = run_full_scan(deps)
    drafts = [p for p in sandbox.products() if p["status"] == "Draft"]
    home = sandbox.catalog.family_by_name("Home").id
    assert plytix_calls(plytix)["plytix.get_product"] == len(drafts), "Completed and Archived ones cost nothing"
    expected = {p["id"] for p in drafts if p["product_family_id"] == home and not p["attributes"].get("short_description")}
    assert finding_products(deps) == expected and report.findings == len(expected)
    run_full_scan(deps)
    assert "plytix.get_product" not in plytix_calls(plytix)


def test_rich_search_gives_the_family_without_a_get(rich_world):
    deps, plytix = rich_world["deps"], rich_world["plytix"]
    report = run_full_scan(deps)
    assert report.findings > 0 and len(our_tasks(rich_world)) == report.findings
    assert "plytix.get_product" not in plytix_calls(plytix)


@pytest.mark.parametrize("rich, search_calls, get_calls", [(False, 0, 3), (True, 1, 0)])
def test_lookups_by_id_search_where_id_is_listed_and_get_where_not(rich: bool, search_calls: int, get_calls: int):
    sandbox = PlytixSandbox(products=30, seed=7, rich_search=rich)
    with sandbox.serving() as server:
        from shared.plytix import PlytixClient

        with PlytixClient(base_url=server.url, auth_url=server.url, api_key="sandbox-api-key",
                          api_password="sandbox-api-password") as client:
            wanted = [p["id"] for p in sandbox.products()[:2]] + ["0" * 24]  # the last one does not exist
            plytix_calls(server)
            found = list(ProductFeed(client).by_ids(wanted, {"short_description"}))
            calls = plytix_calls(server)
    assert sorted(p["id"] for p in found) == sorted(wanted[:2])
    assert calls.get("plytix.search", 0) == search_calls and calls.get("plytix.get_product", 0) == get_calls


def test_a_rule_naming_a_missing_attribute_stops_the_scan_before_any_search(world, tmp_path: Path):
    deps, plytix = world["deps"], world["plytix"]
    rules = tmp_path / "typo.yaml"
    rules.write_text(RULES_YAML.replace("short_description", "short_desc"))
    deps = build_deps(deps.settings.model_copy(update={"RULES_FILE": str(rules)}), stores=deps.stores)
    plytix_calls(plytix)
    with pytest.raises(AccountMismatch) as raised:
        run_full_scan(deps)
    assert str(raised.value) == (f"{rules}:13: rules[0].require[2].attribute: attribute 'short_desc' does not "
                                 "exist in the Plytix account (did you mean 'short_description'?)")
    calls = plytix_calls(plytix)
    assert "plytix.search" not in calls
    assert calls["plytix.filters"] == 2, "a mismatch is confirmed against a fresh listing before it counts"


def test_work_a_failed_plan_listing_blocked_is_done_by_the_next_incremental_pass(world):
    deps, graph = world["deps"], world["graph"]
    httpx.post(f"{graph.url}/_sandbox/faults", json={"endpoint": "graph.list_plan_tasks", "kind": "status",
                                                     "status": 429, "count": 100, "retry_after": 0})
    sweep = run_full_scan(deps)
    assert sweep.findings > 0 and our_tasks(world) == []
    assert any("cannot list its tasks" in error for error in sweep.errors)
    httpx.delete(f"{graph.url}/_sandbox/faults")
    follow_up = run_incremental_scan(deps)
    assert follow_up.mode == "incremental"
    assert follow_up.done["create"] == sweep.findings, "every finding has its task, without a full sweep"
    assert len(our_tasks(world)) == sweep.findings
    assert run_incremental_scan(deps).done == {}


def test_the_claim_timeout_is_an_app_setting(world):
    deps = world["deps"]
    from dataclasses import replace

    from_settings = replace(deps, claim_timeout=None, settings=deps.settings.model_copy(
        update={"CLAIM_TIMEOUT_SECONDS": 90}))
    assert from_settings.stale_claim_after == timedelta(seconds=90)
    assert replace(deps, claim_timeout=None).stale_claim_after == timedelta(minutes=5)


def test_a_level_that_did_not_come_back_is_read_by_get_when_a_rule_selects_by_level(world):
    """Never trust a requested column: a search hit without `product_level` (an account that does not list
    it) gets its level, and its family, from the cache or one GET, and only when a rule needs them."""
    from shared.product_details import DetailResolver, lacks_details, selection_needs_details
    from shared.rules import ProductView

    deps, sandbox = world["deps"], world["plytix"].sandbox
    record = next(p for p in sandbox.products() if p["product_type"] == "PARENT" and p["status"] == "Draft")
    hit = {"id": record["id"], "sku": record["sku"], "status": "Draft", "modified": record["modified"],
           "attributes": {}}
    view = ProductView.from_plytix(hit, {})
    assert lacks_details(hit) and view.level is None
    assert selection_needs_details(deps.rules, view), "the sandbox rule selects levels [single, parent]"
    assert not selection_needs_details(deps.rules, ProductView.from_plytix({**hit, "status": "Archived"}, {}))
    resolver = DetailResolver(deps.plytix, deps.stores.families)
    completed = resolver.complete(hit)
    assert (completed["product_level"], completed["product_family_id"]) == (1, record["product_family_id"])
    assert not lacks_details(completed) and resolver.reads == 1
    assert resolver.complete(hit)["product_level"] == 1 and (resolver.reads, resolver.cache_hits) == (1, 1)


@pytest.mark.parametrize("rich", [False, True], ids=["strict: by SKU", "rich: by id"])
def test_more_attributes_than_one_search_returns_are_fetched_per_page(rich: bool):
    """Over 20 columns: the first chunk pages through the catalog, each further chunk is searched for
    exactly that page's products (ids where `id` is listed, else one OR-group per SKU), never one GET each."""
    from shared.plytix import PlytixClient
    from shared.rules.presence import is_blank

    sandbox = PlytixSandbox(products=150, seed=7, rich_search=rich)
    labels = set(sandbox.catalog.attributes)
    assert len(labels) > 20
    with sandbox.serving() as server, PlytixClient(base_url=server.url, auth_url=server.url,
                                                   api_key="sandbox-api-key", api_password="sandbox-api-password") as client:
        plytix_calls(server)
        products = {p["id"]: p for p in ProductFeed(client).full_sweep(labels)}
        calls = plytix_calls(server)
    assert calls == {"plytix.filters": 1, "plytix.token": 1, "plytix.search": 4}, "2 pages, 1 extra chunk each"
    for record in sandbox.products():
        filled = {label for label, value in record["attributes"].items() if not is_blank(value)}
        assert set(products[record["id"]]["attributes"]) == filled
