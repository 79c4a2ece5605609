"""The rules file: every malformed file is rejected with the exact FILE:LINE: field: message a person needs,
and the shipped example validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.rules import RulesError, build_rules, load_rules, parse_rules
from shared.rules.config import DEFAULT_STATUSES, RULE_TYPES
from shared.settings import ReopenPolicy
from tests.conftest import ROOT
from tests.rules_text import HEAD

# Lines 1-6; the first rule starts on line 7.


RULE = ("  - id: core\n"
        "    type: required_attributes\n"
        "    name: Core content\n"
        "    require: [description]\n")


def errors_of(text: str) -> str:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    return str(caught.value)


STAGED = HEAD.replace("rules:\n", "workflow_stages: [draft, approved, published]\nrules:\n")  # the rule starts on line 8

MALFORMED = {
    "on_complete stage not in the stage map": (
        STAGED + RULE + "    on_complete:\n      stage: aproved\n",
        "rules.yaml:13: rules[0].on_complete.stage: unknown stage 'aproved': use 'next' or one of draft, "
        "approved, published"),
    "on_complete stage without a stage map": (
        HEAD + RULE + "    on_complete: {stage: next}\n",
        "rules.yaml:11: rules[0].on_complete.stage: needs workflow_stages: declare the stage map at the top of "
        "the file"),
    "on_complete status outside Plytix's three": (
        STAGED + RULE + "    on_complete: {status: Published}\n",
        "rules.yaml:12: rules[0].on_complete.status: 'Published': Plytix status is only Draft, Completed or "
        "Archived; workflow stages go in `stage`"),
    "on_complete that does nothing": (
        STAGED + RULE + "    on_complete: {}\n",
        "rules.yaml:12: rules[0].on_complete: set at least one of stage, set, status"),
    "on_complete sets the stage attribute": (
        STAGED + RULE + "    on_complete:\n      set: {workflow_stage: published}\n",
        "rules.yaml:13: rules[0].on_complete.set.workflow_stage: the workflow stage is moved with `stage`, "
        "not `set`"),
    "stage map lists a stage twice": (
        HEAD.replace("rules:\n", "workflow_stages: [draft, Draft]\nrules:\n") + RULE,
        "rules.yaml:6: workflow_stages[1]: 'Draft' is already listed at workflow_stages[0]"),
    "yaml syntax": (
        "version: 1\nrules: [\n  - x\n",
        "rules.yaml:3: yaml: expected the node content, but found '-' (while parsing a flow node at line 3)"),
    "tab indentation": (
        "version: 1\n\trules: []\n",
        "rules.yaml:2: yaml: found character '\\t' that cannot start any token (while scanning for the next token)"),
    "duplicate key": (
        HEAD + RULE + "    name: Again\n",
        "rules.yaml:11: rules[0].name: duplicate key 'name' (first at line 9)"),
    "duplicate rule id": (
        HEAD + RULE + RULE.replace("Core content", "Other"),
        "rules.yaml:11: rules[1].id: duplicate rule id 'core' (also rules[0])"),
    "owners not a mapping": (
        HEAD + RULE + "    owners: bob@contoso.example\n",
        "rules.yaml:11: rules[0].owners: must be a mapping with default, by_family and/or by_category "
        "(for a single owner write owner: name@domain)"),
    "owner and owners": (
        HEAD + RULE + "    owner: a@contoso.example\n    owners:\n      default: b@contoso.example\n",
        "rules.yaml:12: rules[0].owners: set either owner or owners, not both"),
    "owner is not a UPN": (
        HEAD + RULE + "    owners:\n      by_family:\n        Apparel: bob\n",
        "rules.yaml:13: rules[0].owners.by_family.Apparel: 'bob' is not a UPN (expected name@domain, "
        "e.g. merch.lead@contoso.com)"),
    "priority out of range": (
        HEAD + RULE + "    priority: 11\n",
        "rules.yaml:11: rules[0].priority: 11 is out of range: use 0-10 or urgent, important, medium, low"),
    "priority unknown word": (
        HEAD + RULE + "    priority: high\n",
        "rules.yaml:11: rules[0].priority: 'high' is not a priority: use urgent, important, medium, low "
        "or an integer 0-10"),
    "due_in_days negative": (
        HEAD + RULE + "    due_in_days: -1\n",
        "rules.yaml:11: rules[0].due_in_days: must be greater than or equal to 0 (got -1)"),
    "unstable title placeholder": (
        HEAD + RULE + "    title: '{sku}: {missing}'\n",
        "rules.yaml:11: rules[0].title: placeholder {missing} is not stable (the missing attributes change as "
        "people fix them); a title must not change while a task is open: use {sku}, {label}, {product_id}, "
        "{rule_id}, {rule_name}, {scope}, {family}"),
    "unknown title placeholder": (
        HEAD + RULE + "    title: '{sku} {colour}'\n",
        "rules.yaml:11: rules[0].title: unknown placeholder {colour}: use {sku}, {label}, {product_id}, "
        "{rule_id}, {rule_name}, {scope}, {family}"),
    "title without product identifier": (
        HEAD + RULE + "    title: '{rule_name} {label}'\n",
        "rules.yaml:11: rules[0].title: must contain {sku} or {product_id}: tasks are recovered by their "
        "title, so it has to differ per product"),
    "title without scope on a rule with channels": (
        HEAD + RULE + "    title: '{sku}'\n    channels:\n      amazon:\n        require: [amazon_title]\n",
        "rules.yaml:11: rules[0].title: must contain {scope}: this rule has channels, and each scope needs "
        "its own title"),
    "empty require list": (
        HEAD + RULE.replace("[description]", "[]"),
        "rules.yaml:10: rules[0].require: must list at least one requirement (omit 'require' for a rule "
        "with only channels)"),
    "min_count below 1": (
        HEAD + RULE.replace("[description]", "\n      - attribute: images\n        kind: media\n"
                                             "        min_count: 0"),
        "rules.yaml:13: rules[0].require[0].min_count: must be 1 or more (got 0)"),
    "min_count on a text requirement": (
        HEAD + RULE.replace("[description]", "\n      - attribute: images\n        min_count: 2"),
        "rules.yaml:12: rules[0].require[0].min_count: only applies to kind: media"),
    "bad level": (
        HEAD + RULE + "    select:\n      levels: [parent, child]\n",
        "rules.yaml:12: rules[0].select.levels[1]: must be 'single', 'parent', 'variant' or 'sub_variant' "
        "(got 'child')"),
    "bad status": (
        HEAD + RULE + "    select:\n      status: [Draft, Published]\n",
        "rules.yaml:12: rules[0].select.status[1]: must be 'Draft', 'Completed' or 'Archived' (got 'Published')"),
    "more than 20 attributes": (
        HEAD + RULE.replace("[description]", "\n      - attribute: d\n"
                                             "        locales: [en, de, fr, es, it, nl, pl, sv, da, fi, pt]\n"
                                             "      - attribute: s\n"
                                             "        locales: [en, de, fr, es, it, nl, pl, sv, da, fi]"),
        "rules.yaml:7: rules[0]: needs 21 attributes, more than the 20 one Plytix search may request: split it "
        "into several rules (d_da, d_de, d_en, d_es, d_fi, d_fr, d_it, d_nl, d_pl, d_pt, d_sv, s_da, s_de, "
        "s_en, s_es, s_fi, s_fr, s_it, s_nl, s_pl, s_sv)"),
    "misspelt key": (
        HEAD + RULE.replace("require:", "reqiure:"),
        "rules.yaml:10: rules[0].reqiure: unknown key 'reqiure' (did you mean 'require'?)"),
    "bad rule id": (
        HEAD + RULE.replace("id: core", "id: Core Content"),
        "rules.yaml:7: rules[0].id: 'Core Content' is not a rule id (1-60 characters of a-z, 0-9, '-', '_')"),
    "rule id too long": (
        HEAD + RULE.replace("id: core", "id: " + "x" * 61),
        f"rules.yaml:7: rules[0].id: '{'x' * 61}' is not a rule id (1-60 characters of a-z, 0-9, '-', '_')"),
    "unknown rule type": (
        HEAD + RULE.replace("type: required_attributes", "type: required_attribs"),
        "rules.yaml:8: rules[0].type: unknown rule type 'required_attribs': use one of required_attributes, "
        "launch_checklist, review_on_change, channel_requirements, data_quality, catalog_project"),
    "missing rule type": (
        HEAD + RULE.replace("    type: required_attributes\n", ""),
        "rules.yaml:7: rules[0].type: is required: one of required_attributes, launch_checklist, review_on_change, "
        "channel_requirements, data_quality, catalog_project"),
    "rule checks nothing": (
        HEAD + RULE.replace("    require: [description]\n", ""),
        "rules.yaml:7: rules[0]: set 'require' and/or 'channels': this rule checks nothing"),
    "requirement listed twice through locales": (
        HEAD + RULE.replace("[description]", "\n      - description_de\n      - attribute: description\n"
                                             "        locales: [en, de]"),
        "rules.yaml:12: rules[0].require[1]: requirement 'description_de' is already listed at require[0]"),
    "bad category path": (
        HEAD + RULE + "    owners:\n      by_category:\n        'Home//Kitchen': a@contoso.example\n",
        "rules.yaml:13: rules[0].owners.by_category[\"Home//Kitchen\"]: 'Home//Kitchen' is not a category path: "
        "write the category names from the root separated by '/', e.g. Home/Kitchen"),
    "empty selector list": (
        HEAD + RULE + "    select:\n      families: []\n",
        "rules.yaml:12: rules[0].select.families: must list at least one value (an empty list would select "
        "nothing)"),
    "missing rule name": (
        HEAD + RULE.replace("    name: Core content\n", ""),
        "rules.yaml:7: rules[0].name: is required"),
    "missing version": (
        "rules: []\n",
        "rules.yaml:1: version: is required"),
    "wrong version": (
        "version: 2\nrules: []\n",
        "rules.yaml:1: version: must be 1 (got 2)"),
    "not a mapping": (
        "- core\n",
        "rules.yaml:1: (file): must be a mapping with 'version' and 'rules' (see rules.example.yaml)"),
    "locale pattern without locale": (
        "version: 1\nlocale_pattern: '{attribute}'\nrules: []\n",
        "rules.yaml:2: locale_pattern: must contain {attribute} and {locale} and no other placeholder, "
        "e.g. {attribute}_{locale}"),
    "alias that contains itself": (
        "version: 1\nrules: &x [*x]\n",
        "rules.yaml:2: rules[0]: an alias refers to itself"),
    "spill without a plan": (
        HEAD.replace("rules:\n", "plan_overflow: {policy: spill}\nrules:\n") + RULE,
        "rules.yaml:6: plan_overflow: policy spill needs spill_plan_id: the plan that takes the tasks that do "
        "not fit"),
    "spill into a plan the rules write to": (
        HEAD.replace("rules:\n", "plan_overflow: {policy: spill, spill_plan_id: plan-1}\nrules:\n") + RULE,
        "rules.yaml:6: plan_overflow.spill_plan_id: must be a plan no rule writes to (it takes their overflow)"),
    "rule is a string": (
        HEAD + "  - core\n",
        "rules.yaml:7: rules[0]: must be a mapping (got 'core')"),
}


@pytest.mark.parametrize("text, expected", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_file_is_rejected_with_file_line_and_field(text: str, expected: str) -> None:
    assert errors_of(text) == expected


def test_every_problem_is_reported_in_file_order() -> None:
    text = "version: 1\nrules:\n" + RULE.replace("require:", "priority: 12\n    require:") + \
        RULE.replace("id: core", "id: other").replace("[description]", "[]")
    assert errors_of(text).splitlines() == [
        "rules.yaml:6: rules[0].priority: 12 is out of range: use 0-10 or urgent, important, medium, low",
        "rules.yaml:11: rules[1].require: must list at least one requirement (omit 'require' for a rule with "
        "only channels)",
    ]


def test_cross_checks_name_every_unresolvable_setting() -> None:
    """Without defaults, a rule must say where its tasks go and who gets them."""
    assert errors_of("version: 1\nrules:\n" + RULE).splitlines() == [
        "rules.yaml:3: rules[0].bucket: not set on the rule, its channels or in defaults",
        "rules.yaml:3: rules[0].owner: no owner for products that no by_family/by_category entry matches: "
        "set owner or owners.default on the rule or in defaults",
        "rules.yaml:3: rules[0].plan_id: not set on the rule, its channels or in defaults",
    ]


def test_anchors_and_aliases_share_a_requirement_list() -> None:
    text = HEAD + RULE.replace("require: [description]", "require: &texts [description, brand]") + \
        RULE.replace("id: core", "id: again").replace("[description]", "*texts")
    first, second = parse_rules(text).rules
    assert [r.attribute for r in second.require] == [r.attribute for r in first.require] == ["description", "brand"]


def test_owners_without_a_default_fall_back_to_the_defaults_owner() -> None:
    rules_file = parse_rules(HEAD + RULE + "    owners:\n      by_family:\n        Apparel: a@contoso.example\n")
    assert rules_file.rules[0].owners.by_family == {"Apparel": "a@contoso.example"}


def test_load_rules_names_the_real_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + RULE + "    priority: 11\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value) == (f"{path}:11: rules[0].priority: 11 is out of range: use 0-10 or urgent, "
                                 "important, medium, low")
    assert caught.value.problems[0].line == 11


def test_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "absent.yaml")
    assert str(caught.value) == f"{tmp_path / 'absent.yaml'}: (file): cannot read: No such file or directory"


def test_example_file_validates_and_shows_every_feature() -> None:
    rules_file = load_rules(ROOT / "rules.example.yaml")
    by_id = {rule.id: rule for rule in rules_file.rules}
    assert set(by_id) == {"core-content", "marketplace-ready", "weight-for-shipping", "launch", "regulated-review",
                          "channel-specs", "data-quality", "spring-refresh"}
    assert {rule.type for rule in rules_file.rules} == set(RULE_TYPES)  # every rule type there is
    core = by_id["core-content"]
    assert core.priority == 3 and core.reopen_policy is ReopenPolicy.reopen and core.group_threshold == 30
    assert rules_file.defaults.priority == 5 and rules_file.defaults.due_in_days == 7
    assert set(by_id["marketplace-ready"].channels) == {"amazon", "shopify"}
    assert [rule.id for rule in build_rules(rules_file)] == ["core-content", "marketplace-ready", "launch",
                                                              "regulated-review", "channel-specs", "data-quality",
                                                              "spring-refresh"]
    assert rules_file.workflow_stages and by_id["marketplace-ready"].on_complete.stage == "next"
    assert [task.due.from_ for task in by_id["launch"].tasks if task.due] == ["launch_date", "launch_date", "now"]
    assert by_id["regulated-review"].hold.attribute == "review_status"


def test_defaults_and_priority_words() -> None:
    rules_file = parse_rules(HEAD + RULE + "    priority: Urgent\n    select:\n      status: [draft]\n")
    rule = rules_file.rules[0]
    assert rule.priority == 1
    assert rule.select.status == ["Draft"]  # any letter case, stored as Plytix spells it
    assert rule.enabled is True and rule.reopen_policy is None and rule.group_threshold is None
    assert rules_file.workflow_stage_attribute == "workflow_stage"
    assert rules_file.locale_pattern == "{attribute}_{locale}"
    bare = parse_rules(HEAD + RULE).rules[0]
    assert bare.select.status == list(DEFAULT_STATUSES) == ["Draft", "Completed"]
    assert bare.title == "{rule_name}: {sku}{scope}"


def test_content_hash_follows_content_not_formatting() -> None:
    base = parse_rules(HEAD + RULE).content_hash
    reformatted = parse_rules("# a comment\n" + HEAD.replace("plan_id: plan-1", "plan_id: 'plan-1'  # same") + RULE)
    changed = parse_rules(HEAD + RULE.replace("[description]", "[description, brand]"))
    assert len(base) == 64
    assert reformatted.content_hash == base
    assert changed.content_hash != base


def test_models_are_frozen() -> None:
    rule = parse_rules(HEAD + RULE).rules[0]
    with pytest.raises(ValidationError):
        rule.name = "changed"  # type: ignore[misc]


def test_plan_ids_are_the_effective_plans_of_enabled_rules() -> None:
    text = HEAD + """\
  - id: core
    type: required_attributes
    name: Core
    require: [description]
    channels:
      amazon: {require: [amazon_title], plan_id: plan-amazon}
    title: "{sku}{scope}"
  - id: off
    type: required_attributes
    name: Off
    enabled: false
    plan_id: plan-off
    require: [description]
"""
    assert parse_rules(text, "rules.yaml").plan_ids() == {"plan-1", "plan-amazon"}
