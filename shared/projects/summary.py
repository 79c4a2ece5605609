"""A catalog project's state as the JSON API and the report page show it: members, and per milestone and
group the progress the last refresh read from Planner (shared/projects/progress.py).

Reads only the `projects` table (two queries per project): opening the report or calling the API costs no
Plytix or Graph call, and shows Planner as of the last pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Optional

from shared.rules import Rule
from shared.rules.catalog_project import CatalogProjectRule
from shared.store import TableStores
from shared.store.projects import ProjectMember, TaskProgress, by_group

OPEN_PRODUCTS_LISTED = 20  # products not done yet, listed per group on the report


@dataclass(frozen=True)
class ProductLink:
    id: str
    sku: str
    label: str
    url: str


@dataclass(frozen=True)
class GroupProgress:
    group: str
    name: str
    products: int
    done: int
    percent: float
    completed: bool
    late: bool
    task_id: Optional[str]
    task_url: Optional[str]
    open_products: list[ProductLink]  # the first OPEN_PRODUCTS_LISTED not done yet

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "name": self.name, "products": self.products, "done": self.done,
                "percent": self.percent, "completed": self.completed, "late": self.late, "task_id": self.task_id,
                "task_url": self.task_url,
                "open_products": [{"id": p.id, "sku": p.sku, "label": p.label, "url": p.url} for p in self.open_products]}


@dataclass(frozen=True)
class MilestoneProgress:
    id: str
    name: str
    due: date
    bucket: str
    products: int
    done: int
    percent: float
    late: bool  # past its date with a task not completed
    groups: list[GroupProgress]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "due": self.due.isoformat(), "bucket": self.bucket,
                "products": self.products, "done": self.done, "percent": self.percent, "late": self.late,
                "late_groups": sum(1 for g in self.groups if g.late), "groups": [g.to_json() for g in self.groups]}


@dataclass(frozen=True)
class ProjectSummary:
    id: str
    name: str
    products: int
    groups: int
    percent: float  # products x milestones reached, over products x milestones
    milestones: list[MilestoneProgress]

    @property
    def late_milestones(self) -> list[MilestoneProgress]:
        return [m for m in self.milestones if m.late]

    def to_json(self, *, detail: bool) -> dict[str, Any]:
        brief = {"id": self.id, "name": self.name, "products": self.products, "groups": self.groups,
                 "percent": self.percent, "late_milestones": [m.id for m in self.late_milestones]}
        if not detail:
            return {**brief, "milestones": [{k: v for k, v in m.to_json().items() if k != "groups"}
                                            for m in self.milestones]}
        return {**brief, "milestones": [m.to_json() for m in self.milestones]}


def project_rules(rules: Iterable[Rule]) -> list[CatalogProjectRule]:
    return [rule for rule in rules if isinstance(rule, CatalogProjectRule)]


def summarize(rule: CatalogProjectRule, stores: TableStores, today: date, product_url: Callable[[str], str],
              task_url: Callable[[str, str], str]) -> ProjectSummary:
    members = stores.projects.members(rule.id)
    progress = stores.projects.progress(rule.id)
    members_of = by_group(members.values())
    rows = {(row.milestone, row.group): row for row in progress.values()}
    milestones = []
    for milestone in rule.config.milestones:
        groups = [_group(rows.get((milestone.id, group)), group, sorted(people, key=lambda m: m.sku), today,
                         milestone.due, product_url, task_url)
                  for group, people in sorted(members_of.items(), key=lambda item: item[1][0].group_name)]
        products, done = sum(g.products for g in groups), sum(g.done for g in groups)
        milestones.append(MilestoneProgress(
            id=milestone.id, name=milestone.name, due=milestone.due, bucket=milestone.bucket_name,
            products=products, done=done, percent=_percent(done, products),
            late=any(g.late for g in groups), groups=groups))
    total = len(members) * len(milestones)
    return ProjectSummary(id=rule.id, name=rule.name, products=len(members), groups=len(members_of),
                          percent=_percent(sum(m.done for m in milestones), total), milestones=milestones)


def _group(row: Optional[TaskProgress], group: str, members: list[ProjectMember], today: date, due: date,
           product_url: Callable[[str], str], task_url: Callable[[str, str], str]) -> GroupProgress:
    ids = {m.product_id for m in members}
    done_ids = set(row.done_products) & ids if row is not None else set()
    completed = row is not None and row.percent >= 100
    open_products = [ProductLink(m.product_id, m.sku, m.label, product_url(m.product_id))
                     for m in members if m.product_id not in done_ids][:OPEN_PRODUCTS_LISTED]
    return GroupProgress(
        group=group, name=members[0].group_name, products=len(members), done=len(done_ids),
        percent=_percent(len(done_ids), len(members)), completed=completed,
        late=due < today and not completed,
        task_id=row.task_id if row is not None else None,
        task_url=task_url(row.plan_id, row.task_id) if row is not None else None, open_products=open_products)


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0
