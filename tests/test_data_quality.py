"""Job 6 (`data_quality`) end to end: the Plytix and Graph stand-ins over real HTTP, Azurite for the
`quality` index and the links.

Proves: duplicates are found across pages and across invocations (an incremental pass sees a new product
duplicating an old one it does not read); a group's task is updated when a member leaves and closed when
the group is gone; a storm of groups gives at most the configured tasks plus one digest, and a check
failed by a hundred products is one task; GTIN check digits follow GS1; taxonomy checks, including a
variant compared with its parent through the stored index; rules-file errors name file, line and field."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from shared.rules import RulesError, build_rules, parse_rules
from shared.rules.data_quality import (
    DataQualityRule,
    expected_check_digit,
    gtin_check_digit_ok,
    normalise_code,
    normalise_gtin,
)
from shared.rules.product_view import ProductView
from shared.scan import ScanDeps, run_full_scan, run_incremental_scan
from shared.store import LinkState, TableStores
from tests.scan_world import build_deps, world_settings

RULE_ID = "dq"
SELECTED = ("Draft", "Completed")  # the selector's default statuses


def dq_rules(body: str) -> str:
    return f"""\
version: 1
defaults:
  plan_id: {PRODUCT_DATA_PLAN_ID}
  bucket: Data quality
  owner: data.steward@contoso.example
rules:
  - id: {RULE_ID}
    type: data_quality
    name: Data quality
{body}"""


@pytest.fixture
def dq(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str, tmp_path: Path) -> Iterator[Any]:
    """`dq(body)` writes a one-rule file and returns ScanDeps built as production builds them; every
    product's `material` is made unique first, so a test decides which products share one (an MPN-like
    attribute: the seeded materials repeat, as materials do)."""
    sandbox = plytix_sandbox.sandbox
    for number, product in enumerate(sandbox.products()):
        sandbox.edit_product(product["id"], attributes={"material": f"unique-material-{number}"})
    built: list[ScanDeps] = []

    def make(body: str) -> ScanDeps:
        rules = tmp_path / "rules.yaml"
        rules.write_text(dq_rules(body))
        # no overlap: the incremental passes here read only what the test changed after the sweep
        settings = world_settings(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules,
                                  GROUP_THRESHOLD=1000, INCREMENTAL_OVERLAP_SECONDS=0)
        deps = build_deps(settings, stores=built[0].stores if built else None)
        built.append(deps)
        return deps

    make.plytix = sandbox  # type: ignore[attr-defined]
    make.graph = graph_sandbox.sandbox  # type: ignore[attr-defined]
    yield make
    for deps in built:
        deps.plytix.close()
        deps.planner.close()


def dq_tasks(dq: Any) -> dict[str, dict]:
    """Our tasks in the plan, by title."""
    return {t["title"]: t for t in dq.graph.plan_tasks(PRODUCT_DATA_PLAN_ID) if t["title"].startswith("Data quality:")}


def checklist(task: dict) -> dict[str, bool]:
    return {item["title"]: item["isChecked"] for item in task["details"]["checklist"].values()}


def selected(dq: Any) -> list[dict]:
    return [p for p in dq.plytix.products() if p["status"] in SELECTED]


# --- duplicates ---------------------------------------------------------------------------------------------

def test_duplicates_are_found_across_pages_and_across_invocations(dq) -> None:
    deps = dq("    duplicates: {sku: true, gtin: true, attributes: [material]}\n    gtin_check_digit: false\n")
    products = selected(dq)
    first, last = products[0], products[-1]  # 100 per page: pages 1 and 2
    dq.plytix.edit_product(first["id"], attributes={"material": "MPN-0042"})
    dq.plytix.edit_product(last["id"], attributes={"material": "mpn 0042"})
    by_gtin: dict[str, set[str]] = defaultdict(set)
    for product in products:
        by_gtin[product["gtin"]].add(product["sku"])
    seeded_gtin_groups = {gtin: skus for gtin, skus in by_gtin.items() if len(skus) > 1}
    assert seeded_gtin_groups, "the sandbox seeds duplicate GTINs"

    report = run_full_scan(deps)
    tasks = dq_tasks(dq)
    across_pages = tasks["Data quality: duplicate material mpn0042"]
    assert set(checklist(across_pages)) == {first["sku"], last["sku"]}
    description = across_pages["details"]["description"]
    assert f"https://app.plytix.example/products/{first['id']}" in description
    assert f"https://app.plytix.example/products/{last['id']}" in description
    assert "(mpn 0042)" in description and "(MPN-0042)" in description, "each product's own value is shown"
    for gtin, skus in seeded_gtin_groups.items():
        assert set(checklist(tasks[f"Data quality: duplicate GTIN {gtin.zfill(14)}"])) == skus
    assert across_pages["assignments"], "the data steward is assigned"
    assert report.done["create"] == len(tasks)

    # A second invocation (new clients, same storage): an incremental pass reads only the new product,
    # and finds the old one it duplicates through the index.
    old = products[len(products) // 2]
    variant_sku = old["sku"].replace("-", "_").lower()
    second = dq("    duplicates: {sku: true, gtin: true, attributes: [material]}\n    gtin_check_digit: false\n")
    created = second.plytix.create_product(variant_sku, label="Imported again")
    incremental = run_incremental_scan(second)
    assert incremental.mode == "incremental" and incremental.products_seen < 10
    group = dq_tasks(dq)[f"Data quality: duplicate SKU {normalise_code(old['sku'])}"]
    assert set(checklist(group)) == {old["sku"], variant_sku}
    assert created["id"] in group["details"]["description"]
    assert incremental.done == {"create": 1}, "the groups found before are neither re-created nor closed"


def test_a_group_task_follows_members_leaving_and_closes_when_the_group_is_gone(dq) -> None:
    deps = dq("    duplicates: {sku: false, gtin: false, attributes: [material]}\n    gtin_check_digit: false\n")
    a, b, c = (selected(dq)[i] for i in (3, 110, 180))
    for product, value in ((a, "Q-7"), (b, "q 7"), (c, "Q7.")):
        dq.plytix.edit_product(product["id"], attributes={"material": value})
    run_full_scan(deps)
    title = next(iter(dq_tasks(dq)))
    assert checklist(dq_tasks(dq)[title]) == {a["sku"]: False, b["sku"]: False, c["sku"]: False}

    dq.plytix.edit_product(b["id"], attributes={"material": "something else"})
    left = run_incremental_scan(deps)
    assert left.done == {"update": 1}
    task = dq_tasks(dq)[title]
    assert checklist(task) == {a["sku"]: False, c["sku"]: False, f"{b['sku']} (no longer in this group)": True}
    assert "2 products share" in task["details"]["description"]
    assert task["percentComplete"] == 0

    dq.plytix.edit_product(c["id"], attributes={"material": "yet another"})
    gone = run_incremental_scan(deps)
    assert gone.done == {"close": 1}
    assert dq_tasks(dq)[title]["percentComplete"] == 100
    (link,) = deps.stores.links.list_rule(RULE_ID)
    assert link.state is LinkState.closed
    assert len(dq_tasks(dq)) == 1, "closing created nothing"


def test_a_storm_of_groups_gives_capped_tasks_and_one_digest(dq) -> None:
    deps = dq("    duplicates: {sku: false, gtin: false, attributes: [material]}\n    gtin_check_digit: false\n"
              "    storm: {max_group_tasks: 3, max_new_per_run: 2}\n")
    products = selected(dq)
    for pair in range(40):  # a bad import: 40 duplicate pairs
        for product in (products[pair], products[100 + pair]):
            dq.plytix.edit_product(product["id"], attributes={"material": f"IMPORT-{pair:03d}"})
    first = run_full_scan(deps)
    tasks = dq_tasks(dq)
    digest = tasks.pop("Data quality: duplicate groups beyond the storm limits")
    assert len(tasks) == 2 and first.done == {"create": 3}, "max_new_per_run groups, plus the digest"
    assert "38 more duplicate groups" in digest["details"]["description"]

    second = run_full_scan(deps)
    tasks = dq_tasks(dq)
    digest = tasks.pop("Data quality: duplicate groups beyond the storm limits")
    assert len(tasks) == 3 and second.done == {"create": 1, "update": 1}, "max_group_tasks reached"
    assert "37 more duplicate groups" in digest["details"]["description"]


# --- per-product checks -------------------------------------------------------------------------------------

def test_a_check_failed_by_many_products_is_one_task_and_taxonomy_is_checked(dq) -> None:
    deps = dq("    duplicates: {sku: false, gtin: false}\n    mandatory: [safety_warning]\n"
              "    taxonomy: {require_category: true, allowed: [Home], max_depth: 2}\n")
    products = selected(dq)
    no_warning = [p for p in products if not p["attributes"].get("safety_warning")]
    outside = [p for p in products if not _in_home(dq, p)]
    assert len(no_warning) > 100 and outside
    bare = deps.plytix.create_product("NO-CATEGORY-1", label="Imported without a category")

    report = run_full_scan(deps)
    tasks = dq_tasks(dq)
    assert set(tasks) == {"Data quality: mandatory field safety_warning is empty",
                          "Data quality: category outside the allowed subtrees", "Data quality: no category"}
    assert report.done == {"create": 3}
    mandatory = tasks["Data quality: mandatory field safety_warning is empty"]["details"]["description"]
    assert f"{len(no_warning) + 1} products: mandatory field safety_warning is empty" in mandatory
    assert f"...and {len(no_warning) + 1 - 100} more" in mandatory
    assert f"{len(outside)} products" in tasks["Data quality: category outside the allowed subtrees"]["details"][
        "description"]
    assert set(checklist(tasks["Data quality: no category"])) == {"NO-CATEGORY-1"}
    assert bare["id"] in tasks["Data quality: no category"]["details"]["description"]


def _in_home(dq: Any, product: dict) -> bool:
    categories = dq.plytix.catalog.categories
    return all(categories[c].path[0] == "Home" for c in product["categories"])


def test_a_variant_whose_categories_differ_from_its_parent_is_an_exception(azurite: str, table_prefix: str) -> None:
    rules_file = parse_rules(dq_rules("    duplicates: {sku: false, gtin: false}\n    gtin_check_digit: false\n"
                                      "    taxonomy: {require_category: false, variant_matches_parent: true}\n"))
    (rule,) = build_rules(rules_file)
    assert isinstance(rule, DataQualityRule)
    with TableStores.from_connection_string(azurite, table_prefix) as stores:
        stores.ensure_tables()
        rule.attach_stores(stores)

        def view(pid: str, level: int, path: list[str], parent: str | None = None, family: str = "fam-1") -> ProductView:
            return ProductView.from_plytix({"id": pid, "sku": pid.upper(), "status": "Draft", "product_level": level,
                                            "product_family_id": family, "_parent_id": parent,
                                            "categories": [{"name": path[-1], "path": path}]}, {})

        rule.evaluate(view("parent-1", 1, ["Home", "Kitchen"]), "test")
        rule.evaluate(view("variant-1", 2, ["Home", "Decor"], parent="parent-1"), "test")
        rule.evaluate(view("variant-2", 2, ["Home", "Kitchen"], parent="parent-1", family="fam-2"), "test")
        rule.evaluate(view("variant-3", 2, ["Home", "Kitchen"], parent="parent-1"), "test")
        count, members = stores.quality.failing(RULE_ID, "variant_parent")
        assert count == 2
        details = {m.product_id: m.detail for m in members}
        assert "categories Home/Decor differ from its parent PARENT-1's (Home/Kitchen)" in details["variant-1"]
        assert details["variant-2"].startswith("family fam-2 differs")

        rule.evaluate(view("variant-1", 2, ["Home", "Kitchen"], parent="parent-1"), "test")  # fixed
        assert stores.quality.failing(RULE_ID, "variant_parent")[0] == 1


# --- GTIN and normalisation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("gtin", ["4006381333931",  # EAN-13 (GS1 Germany's example)
                                  "036000291452",  # UPC-A / GTIN-12
                                  "96385074",  # GTIN-8 (GS1's check digit calculator example)
                                  "10614141000415"])  # GTIN-14 (GS1 US example)
def test_valid_gtins_pass_the_gs1_check_digit(gtin: str) -> None:
    assert gtin_check_digit_ok(gtin)
    assert expected_check_digit(gtin[:-1]) == int(gtin[-1])


@pytest.mark.parametrize("gtin", ["4006381333932", "036000291453", "96385070", "400638133393", "40063813339311",
                                  "4006381333931x", "", "123456789"])
def test_invalid_gtins_fail(gtin: str) -> None:
    assert not gtin_check_digit_ok(gtin)


def test_normalised_keys() -> None:
    assert normalise_code("AB-12 x") == normalise_code("ab12X") == normalise_code(" ab_12.x ") == "ab12x"
    assert normalise_code("ＡＢ１２") == "ab12"  # full-width forms (NFKC)
    assert normalise_gtin("036000291452") == normalise_gtin("0036000291452") == "00036000291452"
    assert normalise_gtin("12ab") == normalise_gtin("1234567") == ""


# --- the rules file -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ("    storm: {max_group_tasks: 0}\n", "rules.yaml:10: rules[0].storm.max_group_tasks: "),
    ("    taxonomy: {min_depth: 3, max_depth: 2}\n", "rules.yaml:10: rules[0].taxonomy: "),
    ("    duplicates: {skus: true}\n", "rules.yaml:10: rules[0].duplicates.skus: "),
    ("    title: '{sku}'\n", "rules.yaml:10: rules[0].title: a data_quality task is titled by its exception group"),
])
def test_rules_file_errors_name_file_line_and_field(body: str, expected: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(dq_rules(body), "rules.yaml")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_an_example_of_every_key_is_in_the_example_file() -> None:
    root = Path(__file__).resolve().parent.parent
    text = (root / "rules.example.yaml").read_text()
    for key in ("type: data_quality", "label_in_family", "gtin_check_digit", "mandatory", "variant_matches_parent",
                "max_group_tasks", "max_new_per_run", "max_depth"):
        assert key in text
    readme = (root / "docs" / "RULES.md").read_text()
    for key in ("label_in_family", "gtin_check_digit", "variant_matches_parent", "max_group_tasks", "max_new_per_run"):
        assert key in readme


# --- the bench ----------------------------------------------------------------------------------------------

def test_quality_index_bench_at_300_products(azurite: str) -> None:
    from bench import quality_index

    first, second = quality_index.measure([300], azurite)
    assert first[0] == second[0] == "300"
    # an unchanged catalog: one read per product, plus the group step's few partition queries
    assert 300 <= int(second[2]) <= 305
    assert int(first[4]) > 0 and first[4] == second[4], "the same duplicate groups on both passes"
    assert float(first[3]) > 1.0


def test_the_rule_names_its_plan_like_every_rule() -> None:
    """Health and the plan listing read every enabled rule's scopes (a missing one was a 500 on /api/health)."""
    assert parse_rules(dq_rules("    mandatory: [brand]\n")).plan_ids() == {PRODUCT_DATA_PLAN_ID}
