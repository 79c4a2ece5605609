"""The `catalog_project` rule (job 7): a catalog project as Planner work, one task per milestone and group.

A project names the products it covers (a selector over Plytix: categories, families, stages, static
lists, attribute values), its milestones with dates, and how its products are grouped (by category, by
family, or by an attribute's value such as brand or supplier). In Planner each milestone is a bucket, and
each bucket holds one task per product group, listing the group's products: as a checklist of up to 20
(Planner's limit), or as a summary in the description beyond that. The tasks go into an existing plan
(`plan_id`) or into the project's own plan, created once in a Microsoft 365 group (`plan: {group_id,
title}`, shared/group_plans.py).

Like job 6 the rule works in two steps, because a group is decided product by product while passes may
read only the changed products:
1. per product (`evaluate`): is it in the project, and in which group? Joins and leaves are kept in
   memory for the pass and written to the `projects` table (shared/store/projects.py) at its end;
2. once per pass (`pass_findings`): one finding per milestone and group, from the stored members. A
   product that joins appears on its group's tasks; one that leaves is removed with a note; a group that
   empties has its tasks closed.
Progress flows the other way, from Planner to Plytix, in the refresh (shared/projects/progress.py).

Why reopen_policy is fixed to `leave`: completing a project task is progress, not a claim that data was
fixed; the task must stay completed while its products stay in the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Optional

from pydantic import Field, field_validator, model_validator

from shared.rules.config import (
    AttributeLabel,
    GroupRule,
    Name,
    Problems,
    RuleConfigBase,
    ScopeSpec,
    SelectorConfig,
    TaskSettings,
    _Model,
    attribute_limit_problems,
    members_left,
    stage_attributes,
)
from shared.rules.errors import PathPart
from shared.rules.findings import CHECKLIST_LIMIT, Finding, ProductRef, fingerprint
from shared.rules.launch_checklist import GroupId
from shared.rules.product_view import ProductView
from shared.rules.templates import DEFAULT_TITLE
from shared.settings import ReopenPolicy
from shared.store.links import Link
from shared.store.projects import ProjectMember, by_group

if TYPE_CHECKING:
    from shared.reconcile.plan import Desired
    from shared.rules.config import RulesFile
    from shared.store.projects import ProjectStore

SUBJECT_PREFIX = "project:"
NO_CATEGORY = "(no category)"
NO_FAMILY = "(no family)"
NO_VALUE = "(no value)"
LISTED_PRODUCTS = 100  # products listed on a task's description; it says how many more
MAX_LEFT_KEPT = 50  # products that left, named on the task



# ----------------------------------------------------------------------------------------------------
# Config

class MilestoneConfig(_Model):
    """A milestone: a bucket of tasks (one per group) due on `due`."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    name: Name
    due: date
    bucket: Optional[Name] = None  # default: the milestone's name

    @property
    def bucket_name(self) -> str:
        return self.bucket or self.name


class ProjectPlanConfig(_Model):
    """The project's own plan, created once in a Microsoft 365 group."""

    group_id: GroupId
    title: Name


class ProgressConfig(_Model):
    """Where progress goes in Plytix (through job 4's outbox, exactly once per product and milestone)."""

    stage_attribute: Optional[AttributeLabel] = None  # receives the name of the last milestone reached
    status_attribute: Optional[AttributeLabel] = None  # receives `in_progress` or `done` below
    in_progress: Name = "In progress"
    done: Name = "Done"


class CatalogProjectRuleConfig(RuleConfigBase):
    """`type: catalog_project`: milestones x product groups as Planner tasks, progress back to Plytix."""

    type: Literal["catalog_project"]
    select: SelectorConfig = Field(default_factory=SelectorConfig)
    static_lists: Optional[list[Name]] = None  # ids of Plytix static lists: a product in any of them
    where: dict[AttributeLabel, list[str]] = Field(default_factory=dict)  # attribute values (any listed)
    group_by: Literal["category", "family", "attribute"] = "category"
    group_attribute: Optional[AttributeLabel] = None  # group_by: attribute, e.g. brand or supplier
    category_depth: Optional[int] = Field(None, ge=1, le=20)  # group by the first N levels of the path
    milestones: list[MilestoneConfig] = Field(min_length=1)
    plan: Optional[ProjectPlanConfig] = None
    progress: ProgressConfig = Field(default_factory=ProgressConfig)
    late_label: str = Field("category1", pattern=r"^category([1-9]|1[0-9]|2[0-5])$")  # Planner label

    @field_validator("where")
    @classmethod
    def _values_listed(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [label for label, values in value.items() if not values]
        if empty:
            raise ValueError(f"list at least one value for {', '.join(empty)}")
        return value

    @model_validator(mode="after")
    def _static_lists_not_empty(self) -> "CatalogProjectRuleConfig":
        if self.static_lists is not None and not self.static_lists:
            raise ValueError("static_lists must list at least one list id")
        return self

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        return [ScopeSpec("", (), (), (self, defaults))]

    def needed_attributes(self, rules_file: "RulesFile") -> set[str]:
        grouping = {self.group_attribute} if self.group_attribute else set()
        return set(self.where) | grouping | stage_attributes(self, rules_file)

    def attribute_refs(self, rules_file: "RulesFile") -> Iterator[tuple[tuple[PathPart, ...], str]]:
        for label in self.where:
            yield ("where", label), label
        if self.group_attribute:
            yield ("group_attribute",), self.group_attribute
        for name in ("stage_attribute", "status_attribute"):
            label = getattr(self.progress, name)
            if label:
                yield ("progress", name), label
        if self.select.stages is not None:
            yield ("select", "stages"), rules_file.workflow_stage_attribute

    def problems(self, rules_file: "RulesFile") -> Problems:
        (spec,) = self.scope_specs(rules_file.defaults)
        if self.plan is None and spec.setting("plan_id") is None:
            yield ("plan_id",), ("set plan_id (buckets in an existing plan) or plan: {group_id, title} (the "
                                 "project's own plan), on the rule or in defaults")
        if self.plan is not None and self.plan_id is not None:
            yield ("plan",), "set plan_id or plan, not both"
        if spec.fallback_owner() is None:
            yield ("owner",), "set owner (who works the project's tasks) on the rule or in defaults"
        if self.owners is not None and (self.owners.by_family or self.owners.by_category):
            yield ("owners",), "a project task is about a group of products: set owner, not owners by family or category"
        if self.bucket is not None:
            yield ("bucket",), "each milestone is its own bucket: set milestones[].bucket, not bucket"
        if self.title != DEFAULT_TITLE:
            yield ("title",), "a project task is titled by its milestone and group: remove 'title'"
        if self.on_complete is not None:
            yield ("on_complete",), "a project writes its progress back through 'progress', not on_complete"
        if self.reopen_policy not in (None, ReopenPolicy.leave):
            yield ("reopen_policy",), "a completed project task is progress: only 'leave' applies"
        if (self.group_by == "attribute") != (self.group_attribute is not None):
            yield ("group_attribute",), "set group_attribute exactly when group_by is attribute"
        if self.category_depth is not None and self.group_by != "category":
            yield ("category_depth",), "applies to group_by: category only"
        seen: dict[str, int] = {}
        for index, milestone in enumerate(self.milestones):
            if milestone.id in seen:
                yield ("milestones", index, "id"), f"duplicate milestone id '{milestone.id}' (also milestones[{seen[milestone.id]}])"
            seen.setdefault(milestone.id, index)
        yield from attribute_limit_problems(self.needed_attributes(rules_file))


# ----------------------------------------------------------------------------------------------------
# Findings

@dataclass(frozen=True)
class ProjectFinding(Finding):
    """One task: a milestone for one product group."""

    milestone: str = ""
    group: str = ""
    group_name: str = ""
    members: tuple[ProjectMember, ...] = ()


class CatalogProjectRule(GroupRule):
    """Evaluates one `catalog_project` rule (see the module docstring for the two steps)."""

    def __init__(self, config: CatalogProjectRuleConfig, rules_file: "RulesFile",
                 today: Callable[[], date] = lambda: datetime.now(timezone.utc).date()) -> None:
        super().__init__(config, config.needed_attributes(rules_file))
        self.config = config
        self.reopen_policy = ReopenPolicy.leave
        (self._spec,) = config.scope_specs(rules_file.defaults)
        self._today = today
        self.store: Optional["ProjectStore"] = None
        self.members: dict[str, ProjectMember] = {}
        self._joined: dict[str, ProjectMember] = {}
        self._left: set[str] = set()

    # ---- the Rule protocol --------------------------------------------------------------------------

    def system_fields(self) -> tuple[str, ...]:
        return ("static_lists",) if self.config.static_lists else ()

    def scopes(self) -> list[str]:
        return [""]

    def needs_family(self, view: ProductView) -> bool:
        """Grouping by family needs the family, which search does not return (API_FACTS.md): the feed
        reads it by GET, cached by `modified`, for the products the project covers."""
        return self.config.group_by == "family" and self.matches(view)

    def attach_stores(self, stores: Any) -> None:
        """Before a pass: the project's members as stored (memory: the project, not the catalog)."""
        self.store = stores.projects
        self.members = self.store.members(self.id)
        self._joined, self._left = {}, set()

    def matches(self, view: ProductView) -> bool:
        config = self.config
        if not config.select.matches(view):
            return False
        if config.static_lists is not None and not set(config.static_lists) & set(view.static_lists):
            return False
        return all(_value_in(view.attributes.get(label), values) for label, values in config.where.items())

    def evaluate(self, view: ProductView, environment: str) -> list[Finding]:
        """Record a join, a move between groups or a leave (written at the end of the pass)."""
        if self.store is None or (self.needs_family(view) and not view.family_known):
            return []
        current = self.members.get(view.id)
        if self.matches(view):
            group, group_name = self._group_of(view)
            member = ProjectMember(view.id, group, group_name, view.sku, view.label)
            if member != current:
                self.members[view.id] = self._joined[view.id] = member
                self._left.discard(view.id)
        elif current is not None:
            del self.members[view.id]
            self._joined.pop(view.id, None)
            self._left.add(view.id)
        return []

    def _group_of(self, view: ProductView) -> tuple[str, str]:
        if self.config.group_by == "attribute":
            value = view.attributes.get(self.config.group_attribute or "")
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value if value is not None else "")
            return (f"attribute:{shown.strip()[:200]}", shown.strip()[:100]) if shown.strip() else ("attribute:", NO_VALUE)
        if self.config.group_by == "family":
            return (f"family:{view.family_id}", view.family or "") if view.family_id else ("family:", NO_FAMILY)
        if not view.category_paths:
            return "category:", NO_CATEGORY
        path = sorted(view.category_paths)[0][:self.config.category_depth or None]
        return "category:" + "/".join(path), "/".join(path)

    def milestone(self, milestone_id: str) -> Optional[MilestoneConfig]:
        return next((m for m in self.config.milestones if m.id == milestone_id), None)

    def after_pass(self, deps: Any, tasks: Any, run_id: str) -> list[str]:
        """After the pass reconciled: progress from its task listing (shared/projects/progress.py);
        returns the refresh's errors for the pass report."""
        from shared.projects.progress import refresh_progress  # progress imports the write-back, which imports rules
        return refresh_progress(deps, self, run_id, tasks).errors

    # ---- step 2: findings from the stored members ---------------------------------------------------

    def pass_findings(self, environment: str, product_url: Callable[[str], str]) -> list[Finding]:
        """Save the pass's joins and leaves, then one finding per milestone and group."""
        if self.store is None:
            return []
        if self._joined or self._left:
            self.store.save_members(self.id, self._joined.values(), self._left)
            self._joined, self._left = {}, set()
        return [self._finding(environment, milestone, sorted(members, key=lambda m: m.sku), product_url)
                for _, members in sorted(by_group(self.members.values()).items())
                for milestone in self.config.milestones]

    def task_fingerprint(self, environment: str, milestone: str, group: str) -> str:
        return fingerprint(environment, self.id, f"{SUBJECT_PREFIX}{milestone}:{group}")

    def _finding(self, environment: str, milestone: MilestoneConfig, members: list[ProjectMember],
                 product_url: Callable[[str], str]) -> ProjectFinding:
        group, group_name = members[0].group, members[0].group_name
        fp = self.task_fingerprint(environment, milestone.id, group)
        headline = f"{milestone.name}: {group_name}"
        lines = [f"- {m.sku}" + (f' "{m.label}"' if m.label else "") + f": {product_url(m.product_id)}"
                 for m in members[:LISTED_PRODUCTS]]
        if len(members) > len(lines):
            lines.append(f"...and {len(members) - len(lines)} more")
        how = ("Tick a product on the checklist when its work for this milestone is done; complete the task "
               "when the whole group is done." if len(members) <= CHECKLIST_LIMIT else
               f"{len(members)} products are more than a Planner checklist holds ({CHECKLIST_LIMIT}): complete "
               "the task when the whole group is done.")
        description = "\n".join([
            f"Project \"{self.name}\", milestone \"{milestone.name}\" due {milestone.due.isoformat()}: "
            f"{len(members)} product{'s' if len(members) != 1 else ''} of {group_name}.", how, "", *lines])
        due_in_days = (milestone.due - self._today()).days
        return ProjectFinding(
            rule_id=self.id, fingerprint=fp, subject=f"{SUBJECT_PREFIX}{milestone.id}:{group}", scope="",
            title=f"{self.name}: {headline}"[:255], missing=(), satisfied=(),
            owner_upn=self._spec.fallback_owner() or "", plan_id=self._spec.setting("plan_id") or "",
            bucket=milestone.bucket_name, priority=self._spec.priority, due_in_days=due_in_days,
            description=description, product=ProductRef(id="", sku="", label=headline, family=None),
            group_key=fp, milestone=milestone.id, group=group, group_name=group_name, members=tuple(members),
            plan_request=(self.config.plan.group_id, self.config.plan.title) if self.config.plan else None)

    def desired_for(self, finding: Finding, link: Optional[Link]) -> "Desired":
        """The task: the group's products on its checklist (up to 20; a person's ticks are kept, as the
        reconciler only writes items that changed); products that left are named in the description."""
        from shared.reconcile.content import checklist_for, marker_line  # the reconciler imports the rules package
        from shared.reconcile.plan import Desired
        assert isinstance(finding, ProjectFinding)
        current = {m.product_id: m.sku for m in finding.members}
        left = members_left(link, current, MAX_LEFT_KEPT)
        checklist = (checklist_for(finding.fingerprint, [(pid, sku or pid) for pid, sku in current.items()])
                     if len(current) <= CHECKLIST_LIMIT else [])
        description = finding.description
        if left:
            description += "\n\nRemoved from the project (no longer selected): " + ", ".join(left.values())
        return Desired(
            rule_id=finding.rule_id, fingerprint=finding.fingerprint, scope="", title=finding.title,
            description=f"{description}\n{marker_line(finding.fingerprint)}", checklist=checklist,
            owner_upn=finding.owner_upn, plan_id=finding.plan_id, bucket=finding.bucket,
            priority=finding.priority, due_in_days=finding.due_in_days, product_id=None,
            data={"kind": "catalog_project", "subject": finding.subject, "milestone": finding.milestone,
                  "group": finding.group, "group_name": finding.group_name, "products": current, "left": left,
                  "missing_labels": [finding.product.label]})


def _value_in(value: Any, wanted: list[str]) -> bool:
    """An attribute matches when its value (any value of a multi-select) is listed, ignoring case."""
    folded = {w.casefold() for w in wanted}
    values = value if isinstance(value, list) else [value]
    return any(v is not None and str(v).strip().casefold() in folded for v in values)


__all__ = ["CatalogProjectRule", "CatalogProjectRuleConfig", "MilestoneConfig", "ProjectFinding"]
