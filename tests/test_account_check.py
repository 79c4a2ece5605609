"""Rules checked against the Plytix account's attribute labels: every label a rule reads or writes,
pinned to its file and line, with the nearest existing label as a suggestion."""

from __future__ import annotations

import pytest

from shared.rules import AccountMismatch, account_problems, check_against_account, parse_rules
from tests.rules_text import HEAD

ACCOUNT = {"description_en", "description_de", "short_description", "images", "amazon_title", "workflow_stage",
           "syndication_ready"}

RULES = HEAD.replace("rules:\n", "workflow_stages: [draft, approved]\nrules:\n") + """\
  - id: core
    type: required_attributes
    name: Core
    select: {stages: [draft]}
    require:
      - {attribute: description, locales: [en, de, fr]}
      - short_desc
    channels:
      amazon: {require: [amazon_titel]}
    title: "{rule_name}: {sku}{scope}"
    on_complete: {stage: next, set: {syndication_redy: true}}
  - id: off
    type: required_attributes
    name: Off
    enabled: false
    require: [imagez]
"""


def test_every_missing_label_is_named_at_its_line_with_a_suggestion() -> None:
    rules_file = parse_rules(RULES, "rules.yaml")
    with pytest.raises(AccountMismatch) as raised:
        check_against_account(rules_file, ACCOUNT)
    assert [str(p) for p in raised.value.problems] == [
        "rules.yaml:13: rules[0].require[0].attribute: attribute 'description_fr' does not exist in the Plytix "
        "account (did you mean 'description_en'?)",
        "rules.yaml:14: rules[0].require[1].attribute: attribute 'short_desc' does not exist in the Plytix account "
        "(did you mean 'short_description'?)",
        "rules.yaml:16: rules[0].channels.amazon.require[0].attribute: attribute 'amazon_titel' does not exist in "
        "the Plytix account (did you mean 'amazon_title'?)",
        "rules.yaml:18: rules[0].on_complete.set.syndication_redy: attribute 'syndication_redy' does not exist in "
        "the Plytix account (did you mean 'syndication_ready'?)",
    ]


def test_disabled_rules_count_only_when_asked_and_a_complete_account_passes() -> None:
    rules_file = parse_rules(RULES, "rules.yaml")
    fixed = ACCOUNT | {"description_fr", "short_desc", "amazon_titel", "syndication_redy"}
    check_against_account(rules_file, fixed)
    problems = account_problems(rules_file, fixed, include_disabled=True)
    assert [(p.line, p.field) for p in problems] == [(23, "rules[1].require[0].attribute")]
    assert "no similar label" not in problems[0].message and "'images'" in problems[0].message


def test_the_stage_attribute_is_checked_where_the_rule_uses_it() -> None:
    rules_file = parse_rules(RULES, "rules.yaml")
    fields = {p.field for p in account_problems(rules_file, ACCOUNT - {"workflow_stage"})}
    assert {"rules[0].select.stages", "rules[0].on_complete.stage"} <= fields
    assert account_problems(rules_file, ACCOUNT, rule_ids=["off"]) == []
