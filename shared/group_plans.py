"""Plans created by the app in a Microsoft 365 group: a launch wave's plan (job 2) and a catalog project's
own plan (job 7).

Why one place: a finding that asks for such a plan carries `plan_request` = (group id, plan title) and no
plan id. Before reconciling, the pass turns every request into the plan's id: created once per title in its
group (PlannerClient.ensure_group_plan lists first, creates without retry, lists again) and remembered in
a cursor, so later passes spend no Graph call on it. A dry run creates nothing and uses a placeholder id.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Callable

from shared.observability import get_logger
from shared.planner import PlannerClient, PlannerError
from shared.rules import Finding
from shared.store import Cursor, TableStores

log = get_logger(__name__)

NEW_PLAN_PREFIX = "new-plan:"  # a dry run's stand-in for a plan that does not exist yet


def plan_cursor(group_id: str, title: str) -> str:
    """The cursor remembering one group plan's id (named "wave-plan-" since job 2, kept for existing
    deployments: renaming it would only cost one listing, but there is no reason to)."""
    return "wave-plan-" + hashlib.sha256(f"{group_id}\x1f{title}".encode("utf-8")).hexdigest()[:32]


def resolve_group_plans(findings: dict[str, list[Finding]], planner: PlannerClient, stores: TableStores, *,
                        dry_run: bool, errors: list[str],
                        unresolved: Callable[[Finding], object] = lambda finding: None) -> int:
    """Give every finding with a `plan_request` its plan's id, in place. A plan that cannot be made is an
    error of the pass; its findings are dropped (and handed to `unresolved`) until a later pass succeeds.
    Returns how many plans this call created."""
    resolved: dict[tuple[str, str], str] = {}
    created = 0
    for rule_id, found in findings.items():
        kept = []
        for finding in found:
            if finding.plan_request is None:
                kept.append(finding)
                continue
            key = finding.plan_request
            if key not in resolved:
                try:
                    resolved[key], made = _group_plan(planner, stores, *key, dry_run=dry_run)
                    created += made
                except PlannerError as exc:
                    errors.append(f"plan {key[1]!r} in group {key[0]}: {exc}")
                    resolved[key] = ""
            if resolved[key]:
                kept.append(replace(finding, plan_id=resolved[key]))
            else:
                unresolved(finding)
        findings[rule_id] = kept
    return created


def _group_plan(planner: PlannerClient, stores: TableStores, group_id: str, title: str, *,
                dry_run: bool) -> tuple[str, bool]:
    """(plan id, whether this call created it)."""
    name = plan_cursor(group_id, title)
    cursor = stores.cursors.get(name)
    if cursor is not None and cursor.value.get("plan_id"):
        return str(cursor.value["plan_id"]), False
    if dry_run:
        return NEW_PLAN_PREFIX + title, False
    plan_id = planner.ensure_group_plan(group_id, title)
    try:
        stores.cursors.save(Cursor(name, {"plan_id": plan_id, "group_id": group_id, "title": title},
                                   etag=cursor.etag if cursor else None))
    except Exception:  # noqa: BLE001 - another pass saved it: ensure_group_plan picked the same plan
        log.info("group plan cursor %s saved by another pass", name)
    return plan_id, True
