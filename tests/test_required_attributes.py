"""Evaluating `required_attributes` on hand-built Plytix product dicts (shaped like the reference
collection's "Get product data" example): what "present" means, selectors, scopes, owners, fingerprints
and titles."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.rules import ProductView, Rule, build_rules, fingerprint, load_rules, parse_rules
from shared.rules.findings import CHECKLIST_LIMIT, Requirement, missing_summary
from shared.rules.required_attributes import RequiredAttributesRule
from shared.rules.templates import MAX_TITLE_LENGTH
from tests.conftest import ROOT
from tests.rules_text import HEAD

FAMILIES = {"fam-apparel": "Apparel", "fam-home": "Home"}
ENV = "test"



def rule_from(body: str) -> RequiredAttributesRule:
    """One rule from YAML (indented as an item of `rules:`), validated like a real file."""
    rules = build_rules(parse_rules(HEAD + body, "rules.yaml"))
    assert len(rules) == 1
    rule = rules[0]
    assert isinstance(rule, RequiredAttributesRule)
    return rule


def asset(n: int) -> dict[str, str]:
    return {"id": f"asset{n}", "filename": f"{n}.jpeg", "thumb": f"https://files.example/{n}.jpeg",
            "url": f"https://files.example/{n}.jpeg"}


def product(attributes: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "5bfa8fba8544120001bd9073", "sku": "TSHIRT-001", "label": "Organic T-shirt", "status": "Draft",
        "product_family_id": "fam-apparel", "product_type": "SINGLE", "product_level": 0,
        "categories": [{"id": "c1", "name": "Shirts", "path": ["Apparel", "Shirts"]}],
        "attributes": attributes or {},
    }
    base.update(fields)
    return base


def view(attributes: dict[str, Any] | None = None, **fields: Any) -> ProductView:
    return ProductView.from_plytix(product(attributes, **fields), FAMILIES)


def keys(requirements: tuple[Requirement, ...]) -> list[str]:
    return [r.key for r in requirements]


TEXT_RULE = """\
  - id: texts
    type: required_attributes
    name: Texts
    require:
      - short_description
      - attribute: description_html
        kind: html
"""


@pytest.mark.parametrize("value", [None, "", "   ", "\u00a0\u200b", [], {}])
def test_blank_text_is_missing(value: Any) -> None:
    findings = rule_from(TEXT_RULE).evaluate(view({"short_description": value, "description_html": "<p>Ok</p>"}), ENV)
    assert len(findings) == 1
    assert keys(findings[0].missing) == ["short_description"]
    assert keys(findings[0].satisfied) == ["description_html"]


def test_omitted_attribute_is_missing_and_values_of_other_types_are_present() -> None:
    rule = rule_from(TEXT_RULE)
    assert keys(rule.evaluate(view({"description_html": "<b>x</b>"}), ENV)[0].missing) == ["short_description"]
    for value in (0, False, 12.5, ["select 1"], "x"):
        assert rule.evaluate(view({"short_description": value, "description_html": "<b>x</b>"}), ENV) == []


@pytest.mark.parametrize("html", ["<p>&nbsp;</p>", "<div><br></div>", "<p> &#160; </p><!-- note -->",
                                  "<script>alert(1)</script><style>p{}</style>", "&nbsp;&nbsp;", "<p>\u200b</p>"])
def test_html_without_visible_text_is_missing(html: str) -> None:
    findings = rule_from(TEXT_RULE).evaluate(view({"short_description": "Soft cotton", "description_html": html}), ENV)
    assert keys(findings[0].missing) == ["description_html"]
    assert "no visible text" in findings[0].description


def test_html_with_visible_text_is_present() -> None:
    html = "<div><b>Bold Heading</b>&nbsp;</div><div>Lorem ipsum dolor sit amet.&nbsp;</div><div><br></div>"
    assert rule_from(TEXT_RULE).evaluate(view({"short_description": "x", "description_html": html}), ENV) == []


MEDIA_RULE = """\
  - id: media
    type: required_attributes
    name: Media
    require:
      - attribute: images
        kind: media
        min_count: 3
        label: Product images
      - attribute: main_image
        kind: media
"""


def test_media_count_against_min_count() -> None:
    rule = rule_from(MEDIA_RULE)
    two = rule.evaluate(view({"images": [asset(1), asset(2)], "main_image": asset(9)}), ENV)
    assert keys(two[0].missing) == ["images>=3"] and keys(two[0].satisfied) == ["main_image>=1"]
    assert "- Product images: needs at least 3 assets (now: 2 of 3)" in two[0].description
    assert rule.evaluate(view({"images": [asset(1), asset(2), asset(3)], "main_image": asset(9)}), ENV) == []


def test_single_media_null_or_empty_is_missing() -> None:
    rule = rule_from(MEDIA_RULE)
    images = [asset(1), asset(2), asset(3)]
    for main_image in (None, {}):
        assert keys(rule.evaluate(view({"images": images, "main_image": main_image}), ENV)[0].missing) == \
            ["main_image>=1"]


LOCALE_RULE = """\
  - id: translations
    type: required_attributes
    name: Translations
    require:
      - attribute: description
        kind: html
        locales: [en, de, fr]
        label: Description
"""


def test_every_listed_locale_is_required() -> None:
    rule = rule_from(LOCALE_RULE)
    assert rule.needed_attributes() == {"description_en", "description_de", "description_fr"}
    findings = rule.evaluate(view({"description_en": "<p>Hi</p>", "description_fr": "<p>Salut</p>",
                                   "description_de": "<p>&nbsp;</p>"}), ENV)
    assert [(r.key, r.label, r.attribute) for r in findings[0].missing] == \
        [("description_de", "Description (de)", "description_de")]
    assert keys(findings[0].satisfied) == ["description_en", "description_fr"]


def test_locale_pattern_is_configurable() -> None:
    rules_file = parse_rules(HEAD.replace("rules:", 'locale_pattern: "{locale}-{attribute}"\nrules:') + LOCALE_RULE)
    rule = build_rules(rules_file)[0]
    assert rule.needed_attributes() == {"en-description", "de-description", "fr-description"}


CHANNEL_RULE = """\
  - id: channels
    type: required_attributes
    name: Listing
    require: [short_description]
    channels:
      amazon:
        require:
          - amazon_title
          - attribute: images
            kind: media
            min_count: 5
        owner: marketplace.manager@contoso.example
        bucket: Amazon
        priority: urgent
        due_in_days: 2
      webshop:
        require: [short_description]
"""


def test_channel_scopes_give_one_finding_each_with_their_own_settings() -> None:
    rule = rule_from(CHANNEL_RULE)
    assert rule.scopes() == ["", "channel:amazon", "channel:webshop"]
    findings = {f.scope: f for f in rule.evaluate(view({"images": [asset(1)]}), ENV)}
    assert set(findings) == {"", "channel:amazon", "channel:webshop"}
    amazon = findings["channel:amazon"]
    assert keys(amazon.missing) == ["amazon_title", "images>=5"]
    assert (amazon.owner_upn, amazon.bucket, amazon.priority, amazon.due_in_days, amazon.plan_id) == \
        ("marketplace.manager@contoso.example", "Amazon", 1, 2, "plan-1")
    base = findings[""]
    assert (base.owner_upn, base.bucket, base.priority, base.due_in_days) == \
        ("merch.lead@contoso.example", "Product data", 5, None)
    assert amazon.title == "Listing: TSHIRT-001 [amazon]" and base.title == "Listing: TSHIRT-001"
    assert len({f.fingerprint for f in findings.values()}) == 3
    assert "for channel amazon" in amazon.description


def test_complete_scope_yields_no_finding() -> None:
    rule = rule_from(CHANNEL_RULE)
    findings = rule.evaluate(view({"short_description": "x", "images": [asset(1)]}), ENV)
    assert [f.scope for f in findings] == ["channel:amazon"]
    complete = {"short_description": "x", "amazon_title": "T", "images": [asset(n) for n in range(5)]}
    assert rule.evaluate(view(complete), ENV) == []


SELECT_RULE = """\
  - id: selected
    type: required_attributes
    name: Selected
    select:
      families: [Apparel]
      categories: [Apparel/Shirts, Home]
      stages: [Approved]
      levels: [parent, variant]
    require: [short_description]
"""


def test_selector_needs_every_criterion() -> None:
    rule = rule_from(SELECT_RULE)
    assert rule.needed_attributes() == {"short_description", "workflow_stage"}
    selected = dict(attributes={"workflow_stage": "approved"}, product_level=1, product_type="PARENT")
    assert rule.selects(view(**selected))  # stage compared ignoring case, like Plytix's eq
    assert len(rule.evaluate(view(**selected), ENV)) == 1
    other = {
        "family": dict(selected, product_family_id="fam-home"),
        "category": dict(selected, categories=[{"id": "c", "name": "Shirts", "path": ["Outlet", "Shirts"]}]),
        "stage": dict(selected, attributes={"workflow_stage": "draft"}),
        "no stage": dict(selected, attributes={}),
        "level": dict(selected, product_level=0, product_type="SINGLE"),
        "status": dict(selected, status="Archived"),
    }
    for reason, fields in other.items():
        assert not rule.selects(view(**fields)), reason
        assert rule.evaluate(view(**fields), ENV) == [], reason


def test_category_selector_covers_subcategories_and_family_matches_by_id() -> None:
    rule = rule_from(SELECT_RULE.replace("[Apparel]", "[fam-apparel]"))
    kitchen = [{"id": "k", "name": "Kitchen", "path": ["Home", "Kitchen"]}]
    assert rule.selects(view({"workflow_stage": "Approved"}, product_level=2, categories=kitchen))
    assert not rule.selects(view({"workflow_stage": "Approved"}, product_level=2,
                                 categories=[{"id": "h", "name": "Homeware", "path": ["Homeware"]}]))


def test_default_selector_skips_archived_and_accepts_any_level() -> None:
    rule = rule_from(TEXT_RULE)
    assert not rule.selects(view(status="Archived"))
    for level in (0, 1, 2, 3):
        assert rule.selects(view(product_level=level))


OWNER_RULE = """\
  - id: owned
    type: required_attributes
    name: Owned
    require: [short_description]
    owners:
      default: default.owner@contoso.example
      by_family:
        Apparel: apparel.owner@contoso.example
      by_category:
        Home: home.owner@contoso.example
        Home/Kitchen: kitchen.owner@contoso.example
"""


def test_owner_resolution_category_then_family_then_default() -> None:
    rule = rule_from(OWNER_RULE)

    def owner(**fields: Any) -> str:
        return rule.evaluate(view(**fields), ENV)[0].owner_upn

    kitchen = [{"id": "k", "name": "Kitchen", "path": ["Home", "Kitchen"]}]
    home = [{"id": "h", "name": "Home", "path": ["Home"]}]
    assert owner(categories=kitchen) == "kitchen.owner@contoso.example"  # deepest category beats family
    assert owner(categories=home) == "home.owner@contoso.example"
    assert owner(categories=home + kitchen) == "kitchen.owner@contoso.example"
    assert owner() == "apparel.owner@contoso.example"  # family beats default
    assert owner(product_family_id="fam-home", categories=[]) == "default.owner@contoso.example"


def test_owner_falls_back_through_channel_rule_and_defaults() -> None:
    body = CHANNEL_RULE.replace("        owner: marketplace.manager@contoso.example\n", "") + \
        "    owners:\n      by_family:\n        Apparel: apparel.owner@contoso.example\n"
    rule = rule_from(body)
    owners = {f.scope: f.owner_upn for f in rule.evaluate(view(), ENV)}
    assert owners["channel:amazon"] == "apparel.owner@contoso.example"  # from the rule
    home = {f.scope: f.owner_upn for f in rule.evaluate(view(product_family_id="fam-home"), ENV)}
    assert home["channel:amazon"] == "merch.lead@contoso.example"  # from defaults


def test_fingerprint_is_stable_and_depends_on_each_field() -> None:
    base = fingerprint("prod", "rule", "product", "channel:amazon")
    assert re.fullmatch(r"[0-9a-f]{40}", base)
    assert fingerprint("prod", "rule", "product", "channel:amazon") == base
    variants = [fingerprint("dev", "rule", "product", "channel:amazon"),
                fingerprint("prod", "rule2", "product", "channel:amazon"),
                fingerprint("prod", "rule", "product2", "channel:amazon"),
                fingerprint("prod", "rule", "product", ""),
                fingerprint("prod", "rule", "product", "channel:amazon", "v2"),
                fingerprint("prod", "rule", "productchannel:amazon", "")]
    assert base not in variants and len(set(variants)) == len(variants)


def test_finding_fingerprint_uses_environment_rule_product_and_scope() -> None:
    rule = rule_from(CHANNEL_RULE)
    first = {f.scope: f.fingerprint for f in rule.evaluate(view(), "prod")}
    again = {f.scope: f.fingerprint for f in rule.evaluate(view({"short_description": "", "images": []}), "prod")}
    other_env = {f.scope: f.fingerprint for f in rule.evaluate(view(), "staging")}
    assert first == again
    assert first["channel:amazon"] == fingerprint("prod", "channels", "5bfa8fba8544120001bd9073", "channel:amazon")
    assert not set(first.values()) & set(other_env.values())


def test_title_and_fingerprint_stay_when_the_missing_set_changes() -> None:
    rule = rule_from(MEDIA_RULE.replace("    require:", "    title: '{rule_name} - {label} ({sku}){scope}'\n"
                                                      "    require:"))
    both = rule.evaluate(view({}), ENV)[0]
    one = rule.evaluate(view({"main_image": asset(1)}), ENV)[0]
    assert keys(both.missing) == ["images>=3", "main_image>=1"] and keys(one.missing) == ["images>=3"]
    assert both.title == one.title == "Media - Organic T-shirt (TSHIRT-001)"
    assert both.fingerprint == one.fingerprint
    assert both.description != one.description


def test_finding_carries_product_group_key_and_description() -> None:
    finding = rule_from(TEXT_RULE).evaluate(view({"description_html": "<p>Hi</p>"}), ENV)[0]
    assert (finding.rule_id, finding.subject, finding.scope, finding.plan_id) == \
        ("texts", "5bfa8fba8544120001bd9073", "", "plan-1")
    assert (finding.product.id, finding.product.sku, finding.product.label, finding.product.family) == \
        ("5bfa8fba8544120001bd9073", "TSHIRT-001", "Organic T-shirt", "Apparel")
    assert finding.group_key == "texts:Apparel"
    assert finding.description.splitlines() == [
        'Rule "Texts": product TSHIRT-001 "Organic T-shirt" (family Apparel) is missing 1 of 2 required attributes.',
        "- short_description: must not be blank (now: empty)",
        "This task closes by itself once the product is complete in Plytix.",
    ]


def test_long_titles_are_cut_to_planners_limit_deterministically() -> None:
    long_sku = "SKU-" + "9" * 300
    rule = rule_from(TEXT_RULE)
    titles = {rule.evaluate(view(sku=long_sku), ENV)[0].title for _ in range(2)}
    (title,) = titles
    assert len(title) == MAX_TITLE_LENGTH and title.endswith("…") and title.startswith("Texts: SKU-999")


def test_more_requirements_than_a_checklist_holds_are_all_listed() -> None:
    """Planner caps checklists at 20 items: the finding keeps every requirement (the reconciler caps the
    checklist) and the description says so and lists them all."""
    many = [Requirement(key=f"attr_{n}", label=f"Attribute {n}", attribute=f"attr_{n}", reason="must not be blank")
            for n in range(CHECKLIST_LIMIT + 5)]
    summary = missing_summary(many).splitlines()
    assert summary[0] == ("25 requirements are missing; a Planner checklist holds at most 20, so this list is "
                          "the complete one:")
    assert summary[1:] == [f"- Attribute {n}: must not be blank" for n in range(25)]
    assert missing_summary(many[:CHECKLIST_LIMIT]).splitlines()[0] == "- Attribute 0: must not be blank"


def test_a_rule_with_twenty_missing_attributes_lists_them_all() -> None:
    body = "  - id: wide\n    type: required_attributes\n    name: Wide\n    require:\n" + \
        "".join(f"      - attr_{n}\n" for n in range(20))
    finding = rule_from(body).evaluate(view(), ENV)[0]
    assert len(finding.missing) == 20 and finding.satisfied == ()
    assert "is missing 20 of 20 required attributes" in finding.description


def test_build_rules_returns_enabled_rules_satisfying_the_protocol() -> None:
    rules_file = parse_rules(HEAD + TEXT_RULE + MEDIA_RULE.replace("name: Media", "name: Media\n    enabled: false"))
    rules: list[Rule] = build_rules(rules_file)
    assert [rule.id for rule in rules] == ["texts"]
    assert (rules[0].name, rules[0].reopen_policy, rules[0].group_threshold) == ("Texts", None, None)


def test_product_view_normalises_plytix_fields() -> None:
    raw = product({"workflow_stage": " approved ", "short_description": "x"}, product_level=None,
                  product_type="VARIANT", label=None, product_family_id="unknown-family")
    seen = ProductView.from_plytix(raw, FAMILIES)
    assert (seen.level, seen.label, seen.stage, seen.family_id, seen.family_name, seen.family) == \
        ("variant", "", "approved", "unknown-family", None, "unknown-family")
    assert seen.category_paths == (("Apparel", "Shirts"),)
    with pytest.raises(TypeError):
        seen.attributes["short_description"] = "changed"  # type: ignore[index]
    custom = ProductView.from_plytix(product({"stage": "published"}), FAMILIES, stage_attribute="stage")
    assert custom.stage == "published"
    with pytest.raises(ValueError, match="non-empty string 'id'"):
        ProductView.from_plytix({"sku": "X"}, FAMILIES)


def test_rule_finds_exactly_the_sandbox_catalogs_seeded_gaps() -> None:
    """Against the seeded catalog (sandbox/catalog.py): a rule over the attributes the catalog leaves
    empty on purpose flags exactly the products it seeded gaps into, and the example rules only ask for
    attributes that exist there."""
    from sandbox.catalog import GAP_CANDIDATES, build_catalog

    catalog = build_catalog(products=120, seed=7, gap_rate=0.2)
    families = {family.id: family.name for family in catalog.families.values()}
    rule = rule_from("""\
  - id: gaps
    type: required_attributes
    name: Gaps
    select: {status: [Draft, Completed, Archived]}
    require:
      - attribute: description
        locales: [en, de, fr]
      - attribute: name
        locales: [de, fr]
      - short_description
      - {attribute: images, kind: media}
      - {attribute: main_image, kind: media}
""")
    assert rule.needed_attributes() == set(GAP_CANDIDATES)
    flagged = {p["id"] for p in catalog.products if rule.evaluate(ProductView.from_plytix(p, families), ENV)}
    assert flagged == set(catalog.gapped_ids) and flagged

    example = build_rules(load_rules(ROOT / "rules.example.yaml"))
    assert set().union(*(r.needed_attributes() for r in example)) <= set(catalog.attributes)
