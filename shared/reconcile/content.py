"""What a task says: checklist, description and references, derived from findings.

Why deterministic checklist keys: Planner keys checklist items by a GUID the client chooses. Deriving it
(uuid5 of the fingerprint and the requirement key) means every scan, on any instance, names the same item
for the same missing attribute, so "tick description_de" needs no lookup table and survives a crash.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from shared.rules.findings import CHECKLIST_LIMIT, Finding, missing_summary

# Namespace for our checklist GUIDs (random once, fixed forever).
_CHECKLIST_NAMESPACE = uuid.UUID("6f1d8b8e-4f3c-4b59-9a57-2f0d5c1e7a41")
# The line that marks a task as ours; adoption after a crash checks for it (DESIGN.md).
REFERENCE_MARKER = "plytix-planner-sync ref:"
SUMMARY_KEY = "__more__"
# Group descriptions list products up to this many lines (Planner descriptions are for people).
GROUP_DESCRIPTION_LINES = 100


def checklist_key(fingerprint: str, requirement_key: str) -> str:
    """The Planner checklist item id for one requirement of one finding."""
    return str(uuid.uuid5(_CHECKLIST_NAMESPACE, f"{fingerprint}/{requirement_key}"))


def marker_line(fingerprint: str) -> str:
    return f"{REFERENCE_MARKER} {fingerprint}"


@dataclass(frozen=True)
class ChecklistEntry:
    """One checklist item we want on the task: key, title, ticked or not."""

    key: str
    title: str
    is_checked: bool


def checklist_for(fingerprint: str, items: Sequence[tuple[str, str]], done: Iterable[str] = ()) -> list[ChecklistEntry]:
    """Checklist entries for (requirement key, label) pairs, at most Planner's 20.

    Items in `done` are ticked. With more open items than fit, the first 19 are listed and the 20th says
    how many more there are (the description always lists them all)."""
    done_keys = set(done)
    entries = [ChecklistEntry(checklist_key(fingerprint, key), label[:100], key in done_keys)
               for key, label in items]
    if len(entries) <= CHECKLIST_LIMIT:
        return entries
    open_entries = [e for e in entries if not e.is_checked]
    ticked = [e for e in entries if e.is_checked]
    kept = (open_entries + ticked)[:CHECKLIST_LIMIT - 1]
    rest = len(entries) - len(kept)
    kept.append(ChecklistEntry(checklist_key(fingerprint, SUMMARY_KEY),
                               f"...and {rest} more: see the description", False))
    return kept


def product_description(finding: Finding) -> str:
    """The task description for a single-product finding: what, why, and our marker."""
    scope = f" for {finding.scope.split(':', 1)[1]}" if finding.scope.startswith("channel:") else ""
    return "\n".join([
        f"Product {finding.product.sku} ({finding.product.label or 'no label'}) is missing required "
        f"data{scope}.",
        "",
        finding.description or missing_summary(finding.missing),
        "",
        "This task is ticked and closed by itself once the product is fixed in Plytix.",
        marker_line(finding.fingerprint),
    ])


def product_checklist(finding: Finding, previously_missing: Iterable[str] = ()) -> list[ChecklistEntry]:
    """Missing requirements as open items; those missing before and present now stay, ticked."""
    missing_keys, before = {r.key for r in finding.missing}, set(previously_missing)
    fixed = [r for r in finding.satisfied if r.key in before and r.key not in missing_keys]
    items = [(r.key, r.label) for r in finding.missing] + [(r.key, r.label) for r in fixed]
    return checklist_for(finding.fingerprint, items, done=[r.key for r in fixed])


@dataclass(frozen=True)
class GroupMember:
    """A product inside a grouped task: enough to list it without re-reading Plytix."""

    fingerprint: str
    sku: str
    missing: tuple[str, ...]  # labels


def group_title(rule_name: str, family: str) -> str:
    """Deterministic: the same group always has the same title (adoption finds it by title)."""
    return f"{rule_name}: products in {family} need data"


GROUP_CLOSING = "Fixed products are ticked off; the task closes by itself when all are fixed."
EVENT_GROUP_CLOSING = "Complete this task when every product listed has been handled."


def group_description(rule_name: str, family: str, members: Mapping[str, GroupMember], fingerprint: str,
                      closing: str = GROUP_CLOSING, left: Mapping[str, str] | None = None) -> str:
    """`left`: products an event rule let go of (SKU -> the rule's note), listed under the members."""
    what = "fail the rule" if closing == GROUP_CLOSING else "need the work of the rule"
    lines = [f"{len(members)} products in {family} {what} '{rule_name}'. They were grouped into "
             "one task so that one import does not flood the plan.", ""]
    for member in list(members.values())[:GROUP_DESCRIPTION_LINES]:
        lines.append(f"- {member.sku}: {', '.join(member.missing)}")
    if len(members) > GROUP_DESCRIPTION_LINES:
        lines.append(f"...and {len(members) - GROUP_DESCRIPTION_LINES} more")
    if left:
        lines += ["", "No longer part of this task (ticked):"]
        lines += [f"- {sku}: {note}" for sku, note in list(left.items())[:GROUP_DESCRIPTION_LINES]]
    lines += ["", closing, marker_line(fingerprint)]
    return "\n".join(lines)


def group_checklist(fingerprint: str, members: Mapping[str, GroupMember], fixed: Iterable[GroupMember]) -> list[ChecklistEntry]:
    items = [(m.fingerprint, m.sku) for m in members.values()] + [(m.fingerprint, m.sku) for m in fixed]
    return checklist_for(fingerprint, items, done=[m.fingerprint for m in fixed])
