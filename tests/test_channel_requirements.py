"""Job 5, the `channel_requirements` rule: what each check demands (lengths in characters or bytes,
allowed values, regex, forbidden words, images with dimensions, markets), how the file is validated, and
end to end on the shared feed against the sandboxes: one task per product and channel for the channel's
owner, closed by itself once the product is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.catalog import AMAZON_TITLE_MAX
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID, USER_IDS
from shared.rules import ProductView, RulesError, build_rules, load_rules, parse_rules
from shared.rules.channel_requirements import ChannelRequirementsRule, feed_channels
from shared.scan import run_full_scan
from tests.channel_world import TITLE_TOO_LONG, channel_rules
from tests.conftest import ROOT
from tests.rules_text import HEAD
from tests.scan_world import build_deps, world_settings

ENV = "test"


def rule_from(fields: str, channel_extra: str = "", rule_extra: str = "") -> ChannelRequirementsRule:
    """One rule with channel `amazon`; `fields` is YAML indented as items of the channel's `fields`."""
    text = HEAD + f"""\
  - id: channels
    type: channel_requirements
    name: Channel data
{rule_extra}    channels:
      amazon:
        owner: channel.amazon@contoso.example
{channel_extra}        fields:
{fields}"""
    rules = build_rules(parse_rules(text, "rules.yaml"))
    assert len(rules) == 1 and isinstance(rules[0], ChannelRequirementsRule)
    return rules[0]


def view(attributes: dict[str, Any], **fields: Any) -> ProductView:
    product = {"id": "p-1", "sku": "SKU-1", "label": "Kettle", "status": "Draft", "product_level": 0,
               "attributes": attributes, **fields}
    return ProductView.from_plytix(product, {})


def problems(rule: ChannelRequirementsRule, attributes: dict[str, Any]) -> dict[str, str]:
    """Requirement key -> what was wrong, read back from the finding's description."""
    findings = rule.evaluate(view(attributes), ENV)
    if not findings:
        return {}
    (finding,) = findings
    lines = {line.split(": ", 1)[0][2:]: line for line in finding.description.splitlines() if line.startswith("- ")}
    return {req.key: lines[req.label].rsplit("(now: ", 1)[1].rstrip(")") for req in finding.missing}


def test_length_is_counted_in_characters_or_in_utf8_bytes() -> None:
    chars = rule_from("          - {attribute: title, max_length: 5}\n")
    utf8 = rule_from("          - {attribute: title, max_length: 5, length_unit: bytes}\n")
    assert problems(chars, {"title": "Küche"}) == {}
    assert problems(utf8, {"title": "Küche"}) == {"title": "6 bytes, at most 5"}
    assert problems(chars, {"title": "Kitchen"}) == {"title": "7 characters, at most 5"}


def test_required_blank_optional_blank_and_min_length() -> None:
    rule = rule_from("          - {attribute: title, min_length: 3}\n"
                     "          - {attribute: subtitle, required: false, max_length: 4}\n")
    assert problems(rule, {"title": "  ", "subtitle": None}) == {"title": "missing"}
    assert problems(rule, {"title": "ab", "subtitle": "too long"}) == {
        "title": "2 characters, at least 3", "subtitle": "8 characters, at most 4"}
    assert problems(rule, {"title": "abc"}) == {}


def test_allowed_values_regex_and_forbidden_words() -> None:
    rule = rule_from("          - {attribute: condition, allowed: [new, refurbished, used]}\n"
                     "          - {attribute: ean, pattern: '\\d{8}|\\d{12,14}'}\n"
                     "          - {attribute: title, forbidden_words: [best seller]}\n",
                     channel_extra="        forbidden_words: [free shipping]\n")
    assert problems(rule, {"condition": "New", "ean": "4006381333931", "title": "Freestyle shipping kettle"}) == {}
    assert problems(rule, {"condition": "mint", "ean": "40063813", "title": "Kettle, FREE Shipping!"}) == {
        "condition": "'mint' is not one of new, refurbished, used", "title": 'contains "free shipping"'}
    assert problems(rule, {"condition": "used", "ean": "123-456", "title": "Best Seller kettle"}) == {
        "ean": "'123-456' does not match \\d{8}|\\d{12,14}", "title": 'contains "best seller"'}


def test_html_length_counts_the_visible_text() -> None:
    rule = rule_from("          - {attribute: description, kind: html, max_length: 10}\n")
    assert problems(rule, {"description": "<p><strong>Short</strong> one</p>"}) == {}
    assert problems(rule, {"description": "<p>&nbsp;</p>"}) == {"description": "missing"}
    assert problems(rule, {"description": "<p>Eleven char</p>"}) == {"description": "11 characters, at most 10"}


def test_image_count_and_dimensions_where_the_asset_data_has_them() -> None:
    rule = rule_from("          - {attribute: images, kind: media, min_count: 2, min_width: 1000, min_height: 800}\n")
    unknown_size = [{"id": "a1"}, {"id": "a2"}]  # Plytix product assets carry no dimensions
    assert problems(rule, {"images": unknown_size}) == {}
    assert problems(rule, {"images": [{"id": "a1"}]}) == {"images": "1 of 2 images"}
    assert problems(rule, {"images": []}) == {"images": "no images"}
    small = [{"id": "a1", "width": 1200, "height": 1200}, {"id": "a2", "width": "640", "height": 900}]
    assert problems(rule, {"images": small}) == {"images": "1 image not at least 1000 px wide and 800 px high"}


def test_localized_attributes_are_required_per_market() -> None:
    rule = rule_from("          - {attribute: title, per_market: true, max_length: 20}\n",
                     channel_extra="        markets: {DE: de, FR: fr}\n")
    assert rule.needed_attributes() == {"title_de", "title_fr"}
    assert problems(rule, {"title_de": "Wasserkocher"}) == {"title_fr": "missing"}
    (finding,) = rule.evaluate(view({"title_de": "Wasserkocher"}), ENV)
    assert [r.label for r in finding.missing] == ["title (FR)"]


def test_one_finding_per_channel_with_its_owner_bucket_and_stable_fingerprint() -> None:
    text = HEAD + """\
  - id: channels
    type: channel_requirements
    name: Channel data
    bucket: Channels
    channels:
      amazon:
        owner: channel.amazon@contoso.example
        fields: [{attribute: amazon_title, max_length: 200}]
      google:
        plytix_channel: Google Shopping DE
        owner: channel.retail@contoso.example
        priority: urgent
        fields: [{attribute: title, max_length: 150}]
"""
    (rule,) = build_rules(parse_rules(text, "rules.yaml"))
    findings = rule.evaluate(view({"amazon_title": "x" * 201, "title": "y" * 151}), ENV)
    assert [(f.scope, f.owner_upn, f.bucket, f.priority) for f in findings] == [
        ("channel:amazon", "channel.amazon@contoso.example", "Channels", 5),
        ("channel:google", "channel.retail@contoso.example", "Channels", 1)]
    assert [f.title for f in findings] == ["Channel data: SKU-1 [amazon]", "Channel data: SKU-1 [google]"]
    again = rule.evaluate(view({"amazon_title": "x" * 300, "title": "y" * 151}), ENV)
    assert [f.fingerprint for f in again] == [f.fingerprint for f in findings]
    assert rule.evaluate(view({"amazon_title": "ok", "title": "ok"}), ENV) == []
    assert rule.evaluate(view({"amazon_title": "x" * 201}, status="Archived"), ENV) == []
    assert feed_channels([rule], "google shopping de") == [(rule, "google")]
    assert feed_channels([rule], "Amazon") == [(rule, "amazon")]
    assert feed_channels([rule], "eBay") == []


def test_feed_problems_join_the_attribute_problems_on_one_task() -> None:
    rule = rule_from("          - {attribute: amazon_title, column: item_name, max_length: 200}\n"
                     "          - {column: gtin, pattern: '\\d{8}|\\d{12,14}'}\n")
    assert rule.needed_attributes() == {"amazon_title"}
    assert rule.evaluate(view({"amazon_title": "Kettle"}), ENV) == []
    rule.feed_problems = lambda channel, product_id: {"feed:item_name": "truncated", "feed:gtin": "missing"}
    (finding,) = rule.evaluate(view({"amazon_title": "Kettle"}), ENV)
    assert [r.key for r in finding.missing] == ["feed:item_name", "feed:gtin"]
    assert [r.key for r in finding.satisfied] == ["amazon_title"]
    assert [r.label for r in finding.missing] == ["amazon_title in the published feed", "gtin in the published feed"]


@pytest.mark.parametrize("fields, channel_extra, rule_extra, expected", [
    ("          - {attribute: title, min_count: 2}\n", "", "",
     "rules.yaml:14: rules[0].channels.amazon.fields[0]: min_count only apply to kind: media"),
    ("          - {label: Nothing}\n", "", "",
     "rules.yaml:14: rules[0].channels.amazon.fields[0]: set 'attribute' (the Plytix attribute), 'column' "
     "(the feed's column) or both"),
    ("          - {attribute: title, pattern: '(['}\n", "", "",
     "rules.yaml:14: rules[0].channels.amazon.fields[0].pattern: is not a valid regular expression: "),
    ("          - {attribute: title, per_market: true}\n", "", "",
     "rules.yaml:14: rules[0].channels.amazon.fields[0].per_market: the channel lists no markets"),
    ("          - {attribute: title}\n          - {attribute: title, max_length: 3}\n", "", "",
     "rules.yaml:15: rules[0].channels.amazon.fields[1]: 'title' is already checked by fields[0]"),
    ("          - {attribute: title, length_unit: words}\n", "", "",
     "rules.yaml:14: rules[0].channels.amazon.fields[0].length_unit: must be 'characters' or 'bytes'"),
    ("          - {attribute: title}\n", "", "    title: \"{sku}\"\n",
     "rules.yaml:10: rules[0].title: must contain {scope}: each channel's task needs its own title"),
])
def test_malformed_channel_rules_are_rejected_with_file_line_and_field(fields: str, channel_extra: str,
                                                                       rule_extra: str, expected: str) -> None:
    with pytest.raises(RulesError) as caught:
        rule_from(fields, channel_extra, rule_extra)
    assert any(str(p).startswith(expected) for p in caught.value.problems), caught.value


def test_the_example_presets_validate_and_name_their_limits() -> None:
    rules_file = load_rules(ROOT / "rules.example.yaml")
    channel_rules = [r for r in build_rules(rules_file) if isinstance(r, ChannelRequirementsRule)]
    assert channel_rules, "rules.example.yaml ships channel presets"
    limits = {(c.name, check.column or check.attribute): check.config.max_length
              for rule in channel_rules for c in rule.channels for check in c.checks}
    assert limits[("amazon", "item_name")] == 200
    assert limits[("google", "title")] == 150
    assert limits[("google", "description")] == 5000
    gtin = next(check for rule in channel_rules for c in rule.channels for check in c.checks if check.column == "gtin")
    assert gtin.config.required and gtin.violation("4006381333931") is None and gtin.violation("12345")


# ----------------------------------------------------------------------------------------------------
# End to end on the shared feed

CHANNEL_RULES = channel_rules(TITLE_TOO_LONG)


@pytest.fixture
def channel_world(plytix_sandbox: Any, graph_sandbox: Any, azurite: str, table_prefix: str, tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(CHANNEL_RULES)
    settings = world_settings(plytix_sandbox.url, graph_sandbox.url, azurite, table_prefix, rules,
                              GROUP_THRESHOLD=1000)
    deps = build_deps(settings)
    yield deps, plytix_sandbox.sandbox, graph_sandbox.sandbox
    deps.plytix.close()
    deps.planner.close()


def test_scheduled_pass_gives_the_channel_owner_a_task_per_product_and_closes_it_when_fixed(channel_world):
    deps, plytix, graph = channel_world
    too_long = {p["id"] for p in plytix.catalog.products
                if p["status"] != "Archived" and len(p["attributes"].get("amazon_title") or "") > AMAZON_TITLE_MAX}
    assert too_long, "the sandbox seeds titles over Amazon's limit"
    report = run_full_scan(deps)
    assert report.done["create"] == len(too_long)
    tasks = [t for t in graph.plan_tasks(PRODUCT_DATA_PLAN_ID) if t["title"].startswith("Amazon listing")]
    assert len(tasks) == len(too_long)
    assert all(set(t["assignments"]) == {USER_IDS["channel.amazon@contoso.example"]} for t in tasks)
    assert all(t["title"].endswith("[amazon]") for t in tasks)
    sample = tasks[0]
    (item,) = sample["details"]["checklist"].values()
    assert item["title"] == "amazon_title" and not item["isChecked"]
    assert "at most 200" in sample["details"]["description"]

    fixed = sorted(too_long)[0]
    plytix.edit_product(fixed, attributes={"amazon_title": "Contoso kettle, steel"})
    second = run_full_scan(deps)
    assert second.done == {"close": 1}
    closed = [t for t in graph.plan_tasks(PRODUCT_DATA_PLAN_ID) if t["percentComplete"] == 100]
    assert len(closed) == 1 and all(i["isChecked"] for i in closed[0]["details"]["checklist"].values())


def test_attributes_the_account_lacks_are_named_at_their_field() -> None:
    from shared.rules.account import account_problems

    text = HEAD + """\
  - id: channels
    type: channel_requirements
    name: Channel data
    channels:
      amazon:
        owner: channel.amazon@contoso.example
        markets: {DE: de}
        fields:
          - {attribute: amazon_title, max_length: 200}
          - {attribute: titel, per_market: true}
          - {column: gtin}
"""
    problems = account_problems(parse_rules(text, "rules.yaml"), {"amazon_title", "title_de"})
    assert [str(p) for p in problems] == [
        "rules.yaml:16: rules[0].channels.amazon.fields[1].attribute: attribute 'titel_de' does not exist in "
        "the Plytix account (did you mean 'title_de'?)"]
