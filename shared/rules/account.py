"""Check a valid rules file against the Plytix account it will run on: every attribute label it names
must be one of the account's custom attributes, and every stage `on_complete` can write must be one of
the workflow-stage dropdown's options.

Why before anything runs: a typo such as `short_desc` passes the file's own validation (it is a
well-formed label), and at run time it would either make every search a 422 or, if dropped, make every
product look incomplete. The account's `GET /api/v1/filters/product` lists its attributes as
`attributes.<label>` (shared/plytix/schema.py), so the check costs no call beyond that cached listing.
Each problem names file, line and field, and suggests the closest label the account does have.
"""

from __future__ import annotations

import difflib
from typing import Any, Collection, Iterable, Mapping, Optional

from shared.rules.config import RulesFile
from shared.rules.errors import PathPart, Problem, RulesError
from shared.rules.on_complete import NEXT_STAGE


class AccountMismatch(RulesError):
    """The rules name attributes the Plytix account does not have; `problems` say where, with a
    suggestion. A RulesError, so every caller that refuses a bad rules file refuses this one too."""


def account_problems(rules_file: RulesFile, labels: Collection[str], *,
                     rule_ids: Optional[Iterable[str]] = None, include_disabled: bool = False) -> list[Problem]:
    """A Problem for each attribute the rules read that is not among `labels` (the account's labels).
    By default only enabled rules count (a disabled rule never runs); `rule_ids` narrows it further."""
    wanted = set(rule_ids) if rule_ids is not None else None
    known = sorted(labels)
    problems: dict[tuple[str, str], Problem] = {}
    for index, rule in enumerate(rules_file.rules):
        if (not rule.enabled and not include_disabled) or (wanted is not None and rule.id not in wanted):
            continue
        for path, label in rule.attribute_refs(rules_file):
            if label in labels:
                continue
            problem = rules_file.problem(("rules", index) + path,
                                         f"attribute '{label}' does not exist in the Plytix account{_nearest(label, known)}")
            problems.setdefault((problem.field, label), problem)
    return list(problems.values())


def check_against_account(rules_file: RulesFile, labels: Collection[str], *,
                          rule_ids: Optional[Iterable[str]] = None, include_disabled: bool = False) -> None:
    """Raise AccountMismatch listing every attribute the rules name that the account does not have."""
    problems = account_problems(rules_file, labels, rule_ids=rule_ids, include_disabled=include_disabled)
    if problems:
        raise AccountMismatch(problems)


def writes_stages(rules_file: RulesFile, *, include_disabled: bool = False) -> bool:
    """Does any rule move the workflow stage on completion (so the dropdown's options matter)?"""
    return any(rule.on_complete is not None and rule.on_complete.stage and (rule.enabled or include_disabled)
               for rule in rules_file.rules)


def stage_option_problems(rules_file: RulesFile, dropdown: Optional[Mapping[str, Any]], *,
                          include_disabled: bool = False) -> list[Problem]:
    """A Problem for each stage `on_complete` can write that the dropdown does not offer. Why: the write is
    the stage map's spelling of the stage, and Plytix takes only a dropdown's own options, so a stage
    that is not one would fail at the first completion instead of now. `dropdown` is the attribute as
    PlytixClient.find_attribute gives it (None: the account lacks it, which account_problems reports)."""
    if dropdown is None or not writes_stages(rules_file, include_disabled=include_disabled):
        return []
    label = rules_file.workflow_stage_attribute
    if dropdown.get("type_class") != "DropdownAttribute":
        return [rules_file.problem(("workflow_stage_attribute",), f"'{label}' is a {dropdown.get('type_class')} "
                                   "in the Plytix account, not a DropdownAttribute: on_complete moves stages only "
                                   "in a dropdown")]
    options = [str(option) for option in dropdown.get("options") or ()]
    stages = rules_file.workflow_stages or []
    written: dict[tuple[PathPart, ...], str] = {}
    for index, rule in enumerate(rules_file.rules):
        on_complete = rule.on_complete
        if on_complete is None or not on_complete.stage or not (rule.enabled or include_disabled):
            continue
        if on_complete.stage == NEXT_STAGE:  # any stage after the first can be the next one
            written.update({("workflow_stages", i): stage for i, stage in enumerate(stages) if i > 0})
        else:
            named = next((s for s in stages if s.casefold() == on_complete.stage.casefold()), on_complete.stage)
            written[("rules", index, "on_complete", "stage")] = named
    return [rules_file.problem(path, f"stage '{stage}' is not an option of the Plytix dropdown '{label}'"
                                     f"{_nearest_option(stage, options)}")
            for path, stage in written.items() if stage not in options]


def _nearest_option(stage: str, options: list[str]) -> str:
    same = [option for option in options if option.casefold() == stage.casefold()]
    if same:
        return f" (the dropdown spells it '{same[0]}'; Plytix takes only the exact option)"
    close = difflib.get_close_matches(stage, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (its options: {', '.join(options) or 'none'})"


def _nearest(label: str, known: list[str]) -> str:
    close = difflib.get_close_matches(label, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else " (no similar label: check the attribute's label, not its name)"
