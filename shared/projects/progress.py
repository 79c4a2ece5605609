"""A catalog project's progress (job 7), read from Planner and written back to Plytix.

Runs at the end of every pass that reconciled the project (shared/scan.py), on the task listing that pass
already made, so a quiet refresh costs no Graph call at all. From Planner (plannerTask, v1.0):
- a completed task (percentComplete 100) means every product of its group reached the milestone;
- otherwise the products ticked on its checklist did. The listing gives checklistItemCount and
  activeChecklistItemCount; the details (one GET) are read only for a task whose counts moved since the
  last refresh, to learn which items are ticked (item keys are derived from the product id).
A milestone past its date whose task is not complete is late: the task gets the project's label
(appliedCategories, one PATCH with the listing's etag, once) and the report flags it.

To Plytix, per product: the milestones reached in order (the first N all done) name its stage. When it
moves forward, job 4's outbox writes `progress.stage_attribute` (the last milestone's name) and/or
`progress.status_attribute` (in progress / done): the row id is derived from project, product and
milestone count, so every pass, instance and retry meets the same row and the write happens exactly
once; the echo log marks it as our own write for the change feed. Progress never moves a product back
(a reopened task lowers the report, not Plytix), like job 4's stage moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterable, Mapping, Optional

from shared.observability import get_logger
from shared.planner import PlannerClient, PlannerError, PlannerTask
from shared.reconcile.content import checklist_key
from shared.store import Link
from shared.store.links import LinkState
from shared.store.projects import TaskProgress
from shared.writeback import Writeback, WritebackState, process, writeback_context
from shared.writeback.outbox import writeback_id

if TYPE_CHECKING:
    from shared.rules.catalog_project import CatalogProjectRule
    from shared.scan import ScanDeps

log = get_logger(__name__)

_WORKED = {LinkState.open, LinkState.completed}


@dataclass
class RefreshReport:
    """What one refresh of one project read and did (the bench prints it; the pass logs it)."""

    project: str
    tasks: int = 0
    details_read: int = 0
    labelled_late: int = 0
    writebacks: int = 0
    errors: list[str] = field(default_factory=list)


def refresh_progress(deps: "ScanDeps", rule: "CatalogProjectRule", run_id: str,
                     tasks: Optional[Mapping[str, PlannerTask]] = None) -> RefreshReport:
    """Read the project's tasks (from `tasks`, the pass's listing, or by listing its plans), store their
    progress, label late ones, and send each product's new milestones to Plytix."""
    report = RefreshReport(project=rule.id)
    store = deps.stores.projects
    links = [link for link in deps.stores.links.list_rule(rule.id, _WORKED) if link.task_id]
    if tasks is None:
        tasks, failed = deps.planner.list_plans_tasks({link.plan_id for link in links if link.plan_id})
        report.errors.extend(f"plan {plan_id}: cannot list its tasks ({exc})" for plan_id, exc in failed.items())
    before = store.progress(rule.id)
    today = deps.clock().date()
    rows: dict[str, TaskProgress] = {}
    for link in links:
        task = tasks.get(link.task_id or "")
        if task is None:  # created by this pass (its listing came first), deleted, or its plan not listed
            rows[link.fingerprint] = before.get(link.fingerprint) or _unread(rule, link)
            continue
        report.tasks += 1
        try:
            rows[link.fingerprint] = _read_task(deps.planner, rule, link, task, before.get(link.fingerprint),
                                                today, report)
        except PlannerError as exc:
            report.errors.append(f"project {rule.id}: task {task.id}: {exc}")
            if link.fingerprint in before:
                rows[link.fingerprint] = before[link.fingerprint]
    store.save_progress(rule.id, [row for fp, row in rows.items() if before.get(fp) != row])
    store.forget_progress(rule.id, [fp for fp in before if fp not in rows])
    _write_back(deps, rule, rows.values(), run_id, report)
    log.info("project %s refreshed: %d tasks, %d details read, %d labelled late, %d write-backs, %d errors",
             rule.id, report.tasks, report.details_read, report.labelled_late, report.writebacks, len(report.errors))
    return report


def _read_task(planner: PlannerClient, rule: "CatalogProjectRule", link: Link, task: PlannerTask,
               before: Optional[TaskProgress], today: date, report: RefreshReport) -> TaskProgress:
    products: dict[str, str] = link.data.get("products") or {}
    if task.percent_complete >= 100:
        done: tuple[str, ...] = tuple(products)
    elif task.checklist_items == 0 or task.checklist_open == task.checklist_items:
        done = ()
    elif before is not None and (before.task_id, before.checklist_items, before.checklist_open) == (
            task.id, task.checklist_items, task.checklist_open):
        done = tuple(pid for pid in before.done_products if pid in products)
    else:
        details = planner.get_details(task.id)
        report.details_read += 1
        ticked = {key for key, item in details.checklist.items() if item.is_checked}
        done = tuple(pid for pid in products if checklist_key(link.fingerprint, pid) in ticked)
    milestone = rule.milestone(str(link.data.get("milestone") or ""))
    late = milestone is not None and milestone.due < today and task.percent_complete < 100
    label = rule.config.late_label
    if late and label not in task.categories:
        planner.update_task(task.id, {"appliedCategories": {label: True}}, etag=task.etag)
        report.labelled_late += 1
    return TaskProgress(
        fingerprint=link.fingerprint, milestone=milestone.id if milestone else "",
        group=str(link.data.get("group") or ""), group_name=str(link.data.get("group_name") or ""),
        task_id=task.id, plan_id=task.plan_id, percent=task.percent_complete, checklist_items=task.checklist_items,
        checklist_open=task.checklist_open, products=len(products), done_products=done, late=late)


def _unread(rule: "CatalogProjectRule", link: Link) -> TaskProgress:
    """A task the refresh has not read yet (just created): no progress, but the report can link it."""
    milestone = rule.milestone(str(link.data.get("milestone") or ""))
    return TaskProgress(fingerprint=link.fingerprint, milestone=milestone.id if milestone else "",
                        group=str(link.data.get("group") or ""), group_name=str(link.data.get("group_name") or ""),
                        task_id=link.task_id or "", plan_id=link.plan_id or "", percent=0, checklist_items=0,
                        checklist_open=0, products=len(link.data.get("products") or {}))


def reached_by_product(rule: "CatalogProjectRule", rows: Iterable[TaskProgress]) -> dict[str, int]:
    """Product id -> how many milestones, in order, it has reached (the first N all done)."""
    order = [m.id for m in rule.config.milestones]
    done: dict[str, set[str]] = {}
    for row in rows:
        for product_id in row.done_products:
            done.setdefault(product_id, set()).add(row.milestone)
    reached = {}
    for product_id, milestones in done.items():
        count = 0
        while count < len(order) and order[count] in milestones:
            count += 1
        reached[product_id] = count
    return reached


def _write_back(deps: "ScanDeps", rule: "CatalogProjectRule", rows: Iterable[TaskProgress], run_id: str,
                report: RefreshReport) -> None:
    progress = rule.config.progress
    if not (progress.stage_attribute or progress.status_attribute):
        return
    rows = list(rows)
    store = deps.stores.projects
    written = store.written(rule.id)
    milestones = rule.config.milestones
    task_of = {(row.milestone, pid): row for row in rows for pid in row.done_products}
    ctx = writeback_context(deps, run_id)
    sent: dict[str, int] = {}
    for product_id, count in sorted(reached_by_product(rule, rows).items()):
        if count <= written.get(product_id, 0):
            continue
        milestone = milestones[count - 1]
        attributes: dict[str, object] = {}
        if progress.stage_attribute:
            attributes[progress.stage_attribute] = milestone.name
        if progress.status_attribute:
            attributes[progress.status_attribute] = progress.done if count == len(milestones) else progress.in_progress
        row = task_of[(milestone.id, product_id)]
        intent = Writeback(id=writeback_id("project", rule.id, product_id, str(count)), state=WritebackState.pending,
                           rule_id=rule.id, product_id=product_id, task_ids=[row.task_id], plan_id=row.plan_id,
                           fingerprint=row.fingerprint, attributes=attributes,
                           reason=f"project {rule.name!r}: milestone {milestone.name!r} reached")
        stored, created = ctx.outbox.add(intent)
        if created:
            process(ctx, stored.id)  # not finished now (Plytix busy): the completion watcher retries it
            report.writebacks += 1
        sent[product_id] = count
    store.mark_written(rule.id, sent)
