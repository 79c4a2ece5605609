"""From "a person completed this task" to an outbox row: the one entry point the watcher, the scans and the
notification queue share, so a completion is handled once whoever notices it first.

Why one function for all callers: the outbox row's id is derived from the completion (rule, finding and
task; or rule and task set), so the second caller to get here meets the first one's row instead of making
another. Callers record the intent here BEFORE marking the link completed: a crash in between leaves an
open link over a completed task, which the next look handles again and finds the row already there.

Task sets (the launch sets of jobs 2 and 7): a link that belongs to a set carries
`data["set"] = {"key": <set key>, "size": <tasks in the set>}`. The product moves on only when every task
of the set is complete: the row is written (once, for the set) when the last one is, and it lists every
task of the set, so a conflict note goes on each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from shared.rules import RulesFile
from shared.rules.on_complete import OnCompleteConfig, plan_write
from shared.store import Link, LinkState, TableStores
from shared.writeback.outbox import Outbox, Writeback, WritebackState, writeback_id


@dataclass(frozen=True)
class Pending:
    """Why a completion was not turned into a write-back (for reports and the audit)."""

    reason: str


def on_complete_of(rules_file: RulesFile, rule_id: str) -> Optional[OnCompleteConfig]:
    """The rule's write-back, when it is enabled and has one."""
    rule = next((r for r in rules_file.rules if r.id == rule_id and r.enabled), None)
    return rule.on_complete if rule is not None else None


def record_completion(stores: TableStores, rules_file: RulesFile, link: Link) -> Writeback | Pending:
    """The outbox row for this completed task's write-back (created now, or found), or why there is none."""
    on_complete = on_complete_of(rules_file, link.rule_id)
    if on_complete is None:
        return Pending("the rule has no on_complete")
    if not link.product_id:
        return Pending("a grouped task stands for many products: nothing is written back for it")
    task_ids = [link.task_id] if link.task_id else []
    set_info = link.data.get("set") or {}
    key = ("task", link.fingerprint, link.task_id or "")
    if set_info.get("key"):
        members = [m for m in stores.links.list_rule(link.rule_id)
                   if (m.data.get("set") or {}).get("key") == set_info["key"]]
        unfinished = [m for m in members if m.fingerprint != link.fingerprint and m.state is not LinkState.completed]
        if unfinished or len(members) < int(set_info.get("size") or 0):
            return Pending(f"task set {set_info['key']}: {len(unfinished) + max(0, int(set_info.get('size') or 0) - len(members))} "
                           "task(s) still open")
        task_ids = sorted(m.task_id for m in members if m.task_id)
        key = ("set", str(set_info["key"]), "")
    planned = plan_write(on_complete, rules_file.workflow_stages or (), rules_file.workflow_stage_attribute,
                         link.data.get("stage"))
    if planned.empty:
        return Pending(f"nothing to write: {planned.reason}")
    row, _ = Outbox(stores.table("writebacks")).add(Writeback(
        id=writeback_id(link.rule_id, *key), state=WritebackState.pending, rule_id=link.rule_id,
        product_id=link.product_id, task_ids=task_ids, plan_id=link.plan_id or "", fingerprint=link.fingerprint,
        attributes=planned.attributes, status=planned.status, expected_stage=link.data.get("stage"),
        target_stage=planned.target_stage, reason=planned.reason))
    return row
