"""Check a valid rules file against the Plytix account it will run on: every attribute label it names
must be one of the account's custom attributes.

Why before anything runs: a typo such as `short_desc` passes the file's own validation (it is a
well-formed label), and at run time it would either make every search a 422 or, if dropped, make every
product look incomplete. The account's `GET /api/v1/filters/product` lists its attributes as
`attributes.<label>` (shared/plytix/schema.py), so the check costs no call beyond that cached listing.
Each problem names file, line and field, and suggests the closest label the account does have.
"""

from __future__ import annotations

import difflib
from typing import Collection, Iterable, Optional

from shared.rules.config import RulesFile
from shared.rules.errors import Problem, RulesError


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


def _nearest(label: str, known: list[str]) -> str:
    close = difflib.get_close_matches(label, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else " (no similar label: check the attribute's label, not its name)"
