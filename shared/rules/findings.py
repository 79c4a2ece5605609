"""Findings: what a rule says is wrong with one product (or group), with a stable fingerprint.

A finding is desired state: "there should be an open task for this". The reconciler compares findings
with the links it stored (fingerprint -> Planner task), so the fingerprint must depend only on WHAT is
wrong and WHERE (environment, rule, subject, scope, change version), never on details that change while
the task is open (which attributes are still missing, owner, due date).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

FINGERPRINT_LENGTH = 40

# Graph rejects a task with more than 20 checklist items (403 MaximumChecklistItemsOnTask, API_FACTS.md).
# Findings list every requirement; the reconciler puts at most this many on the checklist.
CHECKLIST_LIMIT = 20


def fingerprint(environment: str, rule_id: str, subject: str, scope: str = "", version: str = "") -> str:
    """sha256 over the identifying fields, as 40 lowercase hex characters.

    Hex is safe as a Table Storage key (no / \\ # ? or control characters). The fields are JSON-encoded
    as a list before hashing so that ("a:b", "c") and ("a", "b:c") can never collide. The environment
    is included so two environments sharing a plan never adopt each other's tasks."""
    payload = json.dumps([environment, rule_id, subject, scope, version], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


@dataclass(frozen=True)
class Requirement:
    """One thing a rule checks, e.g. key "description_de" or "images>=3".

    `key` is stable across runs (the reconciler matches checklist items by it); `label` is what a
    person reads on the checklist; `reason` says what "present" means or why it is required."""

    key: str
    label: str
    attribute: str
    reason: str


@dataclass(frozen=True)
class ProductRef:
    """The product a finding is about, as shown on the task."""

    id: str
    sku: str
    label: str
    family: Optional[str]
    stage: Optional[str] = None  # workflow stage when found: the write-back's guard (job 4)


@dataclass(frozen=True)
class Finding:
    """One task's worth of work: a rule, a subject and a scope with something missing."""

    rule_id: str
    fingerprint: str
    subject: str  # product id
    scope: str  # "" or "channel:<name>"
    title: str  # deterministic: recovery after a crash finds the task by it
    missing: tuple[Requirement, ...]
    satisfied: tuple[Requirement, ...]  # everything checked and present: lets checklist items be ticked
    owner_upn: str
    plan_id: str
    bucket: str
    priority: int  # Planner 0-10 (1 urgent, 3 important, 5 medium, 9 low)
    due_in_days: Optional[int]
    description: str  # what is missing and why, for people
    product: ProductRef
    group_key: str  # rule id + family: many new findings with one key become one grouped task
    # Event rules (jobs 2, 3): the change this finding is about (also in its fingerprint), what their task
    # shows (old/new values, template items; `close_note` asks to close the open task instead), and a
    # plan to create in a Microsoft 365 group, as (group id, plan title), resolved before reconciling.
    version: str = ""
    event: Mapping[str, Any] = field(default_factory=dict)
    plan_request: Optional[tuple[str, str]] = None


def missing_summary(missing: Sequence[Requirement], observed: Mapping[str, str] | None = None,
                    checklist_limit: int = CHECKLIST_LIMIT) -> str:
    """One line per missing requirement ("- Images: at least 3 assets (now: 1)"), `observed` giving the
    current state by requirement key. When there are more than a checklist can hold, say so up front:
    the task's checklist will show only the first `checklist_limit`, the description stays complete."""
    observed = observed or {}
    lines = [f"- {req.label}: {req.reason}" + (f" (now: {observed[req.key]})" if req.key in observed else "")
             for req in missing]
    if len(missing) > checklist_limit:
        lines.insert(0, f"{len(missing)} requirements are missing; a Planner checklist holds at most "
                        f"{checklist_limit}, so this list is the complete one:")
    return "\n".join(lines)
