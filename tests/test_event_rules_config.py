"""The event rule types (launch_checklist, review_on_change) in the rules file: malformed files are
rejected with FILE:LINE: field: message, and valid ones build rules that watch the right fields."""

from __future__ import annotations

import pytest

from shared.rules import RulesError, build_rules, is_event_rule, parse_rules
from tests.rules_text import HEAD

LAUNCH = ("  - id: launch\n"
          "    type: launch_checklist\n"
          "    name: Launch\n"
          "    trigger: {stages: [ready]}\n"
          "    tasks:\n"
          "      - {key: copy, name: Copy review}\n")
REVIEW = ("  - id: review\n"
          "    type: review_on_change\n"
          "    name: Review\n"
          "    watch: [safety_warning]\n")

MALFORMED = {
    "trigger that never fires": (
        HEAD + LAUNCH.replace("{stages: [ready]}", "{on_create: false}"),
        "rules.yaml:10: rules[0].trigger: set on_create: true, stages and/or status: this trigger never fires"),
    "due from the launch date without its attribute": (
        HEAD + LAUNCH.replace("Copy review}", "Copy review, due: {days: -3, from: launch_date}}"),
        "rules.yaml:12: rules[0].tasks[0].due.from: counts from the launch date: set launch_date_attribute"),
    "due from an unknown point": (
        HEAD + LAUNCH.replace("Copy review}", "Copy review, due: {days: 1, from: tomorrow}}"),
        "rules.yaml:12: rules[0].tasks[0].due.from: must be 'launch_date' or 'now' (got 'tomorrow')"),
    "duplicate task key": (
        HEAD + LAUNCH + "      - {key: copy, name: Again}\n",
        "rules.yaml:13: rules[0].tasks[1].key: duplicate task key 'copy' (also tasks[0])"),
    "wave title without {wave}": (
        HEAD + LAUNCH + "    wave: {group_id: g-1, attribute: launch_date, title: Launch}\n",
        "rules.yaml:13: rules[0].wave.title: must contain {wave}: each wave gets its own plan"),
    "stage order without the trigger stage": (
        HEAD + LAUNCH + "    stage_order: [draft, published]\n",
        "rules.yaml:13: rules[0].stage_order: the stage order (stage_order) must list the trigger stages too "
        "(missing: ready)"),
    "misspelt key": (
        HEAD + LAUNCH + "    on_leav: close\n",
        "rules.yaml:13: rules[0].on_leav: unknown key 'on_leav' (did you mean 'on_leave'?)"),
    "unknown reviewer": (
        HEAD + REVIEW.replace("[safety_warning]", "[{attribute: safety_warning, reviewer: legal}]"),
        "rules.yaml:10: rules[0].watch[0].reviewer: unknown reviewer 'legal': define it under reviewers (none yet)"),
    "watching the hold attribute": (
        HEAD + REVIEW.replace("[safety_warning]", "[review_status]") + "    hold: {attribute: review_status}\n",
        "rules.yaml:10: rules[0].watch[0].attribute: is the hold attribute: the rule would review its own writes"),
    "nothing watched": (
        HEAD + REVIEW.replace("[safety_warning]", "[]"),
        "rules.yaml:10: rules[0].watch: must list at least one attribute"),
}


@pytest.mark.parametrize("text, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_event_rules_name_file_line_and_field(text: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    assert str(caught.value) == message


def test_event_rules_watch_what_they_trigger_on() -> None:
    rules = build_rules(parse_rules(HEAD + LAUNCH + "    launch_date_attribute: launch_date\n" + REVIEW
                                    + "    hold: {attribute: review_status}\n"))
    launch, review = rules
    assert all(map(is_event_rule, rules))
    assert launch.watch().attributes == {"workflow_stage"} and launch.watch().status
    assert launch.needed_attributes() == {"workflow_stage", "launch_date"}
    assert review.watch().attributes == {"safety_warning"} and not review.watch().status
    assert review.needed_attributes() == {"safety_warning", "review_status"}


def test_a_hold_writes_approved_on_completion_and_the_stage_map_orders_launch_stages() -> None:
    text = (HEAD.replace("version: 1\n", "version: 1\nworkflow_stages: [draft, ready, live]\n") + LAUNCH + REVIEW
            + "    hold: {attribute: review_status, approved: ok}\n")
    rules_file = parse_rules(text)
    review = rules_file.rules[1]
    assert review.on_complete is not None and review.on_complete.set == {"review_status": "ok"}
    launch = build_rules(rules_file)[0]
    from shared.change_feed import Change, ChangeKind
    from shared.rules import ProductView

    view = ProductView.from_plytix({"id": "p", "sku": "S", "status": "Draft", "attributes": {"workflow_stage": "draft"}},
                                   {})
    back = Change(ChangeKind.attribute, "workflow_stage", "ready", "draft", "h1", "h2", "v1")
    forward = Change(ChangeKind.attribute, "workflow_stage", "ready", "live", "h1", "h3", "v1")
    assert [f.event["close_note"] != "" for f in launch.evaluate_changes(view, (back,), "test", None)] == [True]
    assert launch.evaluate_changes(view, (forward,), "test", None) == []  # onwards is not "left backwards"


def test_the_account_check_pins_each_event_rule_attribute_to_its_line() -> None:
    from shared.rules import account_problems

    text = (HEAD + LAUNCH + "    launch_date_attribute: launch_dt\n" + REVIEW.replace("[safety_warning]", "[safety_warn]")
            + "    hold: {attribute: review_state}\n")
    problems = [str(p) for p in account_problems(parse_rules(text, "rules.yaml"),
                                                 {"workflow_stage", "launch_date", "safety_warning", "review_status"})]
    assert problems == [
        "rules.yaml:13: rules[0].launch_date_attribute: attribute 'launch_dt' does not exist in the Plytix "
        "account (did you mean 'launch_date'?)",
        "rules.yaml:17: rules[1].watch[0].attribute: attribute 'safety_warn' does not exist in the Plytix "
        "account (did you mean 'safety_warning'?)",
        "rules.yaml:18: rules[1].hold.attribute: attribute 'review_state' does not exist in the Plytix "
        "account (did you mean 'review_status'?)"]
