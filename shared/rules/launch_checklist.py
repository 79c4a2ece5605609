"""The `launch_checklist` rule (job 2): a product is created, or enters a launch-ready stage -> a task set.

The set comes from a template in the rules file (copy review, image approval, channel setup...), each task
with its owner (UPN, or by family/category), bucket, checklist, priority and a due date counted from a
launch-date attribute or from now. Optionally the set goes into a plan per launch wave, created in a
Microsoft 365 group and reused for the whole wave.

Why the occurrence is in the fingerprint: "one set per product per launch occurrence". By default the
occurrence is the product's first launch (version ""), so a stage that flips back and forth finds the
set's links already there and creates nothing. With `new_set_on_reentry` each entry is its own occurrence
(the change's version), and a further entry while a set is still open joins that set (see
shared/reconcile/events.py). Leaving the stage backwards follows `on_leave`: close the open tasks with a
note, or leave them.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Iterator, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from shared.change_feed import STATUS_FIELD, Change, ChangeKind, Watch
from shared.rules.base import EventRuleBase
from shared.rules.config import (
    AttributeLabel,
    Name,
    Problems,
    RuleConfigBase,
    ScopeSpec,
    SelectorConfig,
    Status,
    TaskSettings,
    _matching,
    _Model,
    _status_list,
    attribute_limit_problems,
    placement_problems,
)
from shared.rules.errors import PathPart
from shared.rules.findings import Finding, ProductRef, Requirement, fingerprint
from shared.rules.product_view import ProductView
from shared.rules.templates import placeholders, render_title
from shared.store.links import Link

if TYPE_CHECKING:  # config.py imports this module at its end (the rule-type registry)
    from shared.reconcile.plan import Desired
    from shared.rules.config import RulesFile

TaskKey = Annotated[str, AfterValidator(_matching(r"[a-z0-9_-]{1,40}", "a task key (1-40 characters of a-z, "
                                                                        "0-9, '-', '_')"))]
GroupId = Annotated[str, AfterValidator(_matching(r"[0-9A-Za-z-]{1,100}", "a Microsoft 365 group id (a GUID)"))]
MAX_TEMPLATE_TASKS = 20
CHECKLIST_LIMIT = 20  # Graph: 20 checklist items per task (API_FACTS.md)


class DueConfig(_Model):
    """`due: {days: -14, from: launch_date}`: 14 days before the launch date; `from: now` counts from the
    day the set is created. A due date in the past becomes today."""

    days: int = Field(ge=-3650, le=3650)
    from_: Literal["launch_date", "now"] = Field("now", alias="from")


class LaunchTaskConfig(TaskSettings):
    """One task of the set. Its task settings override the rule's and the defaults'."""

    key: TaskKey
    name: Name
    checklist: list[Name] = Field(default_factory=list)
    due: Optional[DueConfig] = None

    @field_validator("checklist")
    @classmethod
    def _checklist_fits(cls, value: list[str]) -> list[str]:
        if len(value) > CHECKLIST_LIMIT:
            raise ValueError(f"has {len(value)} items; a Planner checklist holds at most {CHECKLIST_LIMIT}")
        return value


class LaunchTriggerConfig(_Model):
    """What starts a launch: creation, and/or entering one of these workflow stages or statuses."""

    on_create: bool = False
    stages: Optional[list[Name]] = None
    status: Optional[Annotated[list[Status], BeforeValidator(_status_list)]] = None

    @model_validator(mode="after")
    def _triggers_something(self) -> "LaunchTriggerConfig":
        if not self.on_create and not self.stages and not self.status:
            raise ValueError("set on_create: true, stages and/or status: this trigger never fires")
        return self

    def entered(self, change: Change, stage_attribute: str) -> bool:
        if change.kind is ChangeKind.status and self.status:
            return change.new in self.status and change.old not in self.status
        if change.kind is ChangeKind.attribute and change.field == stage_attribute and self.stages:
            return _folded(change.new) in _fold(self.stages) and _folded(change.old) not in _fold(self.stages)
        return False


class WaveConfig(_Model):
    """A plan per launch wave, created in a Microsoft 365 group and reused for the wave. The wave is the
    value of `attribute` (with `period: month`, the month of a date attribute, e.g. 2026-03)."""

    group_id: GroupId
    attribute: AttributeLabel
    period: Literal["value", "month"] = "value"
    title: Name = "Launch {wave}"

    @field_validator("title")
    @classmethod
    def _names_wave(cls, value: str) -> str:
        if "{wave}" not in value:
            raise ValueError("must contain {wave}: each wave gets its own plan")
        return value

    def wave_of(self, view: ProductView) -> Optional[str]:
        value = view.attributes.get(self.attribute)
        if value is None or str(value).strip() == "":
            return None
        text = str(value).strip()
        return text[:7] if self.period == "month" else text[:60]


class LaunchChecklistRuleConfig(RuleConfigBase):
    """`type: launch_checklist`: a task set per product launch (job 2)."""

    type: Literal["launch_checklist"]
    select: SelectorConfig = Field(default_factory=SelectorConfig)
    trigger: LaunchTriggerConfig
    tasks: list[LaunchTaskConfig]
    launch_date_attribute: Optional[AttributeLabel] = None
    stage_order: Optional[list[Name]] = None
    on_leave: Literal["close", "leave"] = "close"
    new_set_on_reentry: bool = False
    wave: Optional[WaveConfig] = None

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[LaunchTaskConfig]) -> list[LaunchTaskConfig]:
        if not value:
            raise ValueError("must list at least one task")
        if len(value) > MAX_TEMPLATE_TASKS:
            raise ValueError(f"lists {len(value)} tasks; a set holds at most {MAX_TEMPLATE_TASKS}")
        return value

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        return [ScopeSpec(f"task:{task.key}", ("tasks", index), (), (task, self, defaults))
                for index, task in enumerate(self.tasks)]

    def needed_attributes(self, rules_file: RulesFile) -> set[str]:
        labels = {label for label in (self.launch_date_attribute, self.wave.attribute if self.wave else None) if label}
        if self.trigger.stages or self.select.stages is not None or (self.on_complete and self.on_complete.stage):
            labels.add(rules_file.workflow_stage_attribute)
        return labels

    def attribute_refs(self, rules_file: RulesFile) -> Iterator[tuple[tuple[PathPart, ...], str]]:
        """Each attribute the rule reads, at the key that names it (for the account check)."""
        if self.launch_date_attribute:
            yield ("launch_date_attribute",), self.launch_date_attribute
        if self.wave:
            yield ("wave", "attribute"), self.wave.attribute
        if self.trigger.stages:
            yield ("trigger", "stages"), rules_file.workflow_stage_attribute
        if self.select.stages is not None:
            yield ("select", "stages"), rules_file.workflow_stage_attribute
        yield from self.write_back_refs(rules_file)

    def problems(self, rules_file: RulesFile) -> Problems:
        yield from placement_problems(self.scope_specs(rules_file.defaults), "its tasks")
        yield from attribute_limit_problems(self.needed_attributes(rules_file))
        if "scope" not in placeholders(self.title):
            yield ("title",), "must contain {scope}: each task of the set needs its own title"
        first: dict[str, int] = {}
        for index, task in enumerate(self.tasks):
            if task.key in first:
                yield ("tasks", index, "key"), f"duplicate task key '{task.key}' (also tasks[{first[task.key]}])"
            first.setdefault(task.key, index)
            if task.due and task.due.from_ == "launch_date" and not self.launch_date_attribute:
                yield ("tasks", index, "due", "from"), "counts from the launch date: set launch_date_attribute"
        order = self.stage_order or rules_file.workflow_stages
        if order is not None and self.trigger.stages:
            unknown = [s for s in self.trigger.stages if _folded(s) not in _fold(order)]
            if unknown:
                where = "stage_order" if self.stage_order is not None else "trigger"
                yield (where,), (f"the stage order ({'stage_order' if self.stage_order else 'workflow_stages'}) "
                                 f"must list the trigger stages too (missing: {', '.join(unknown)})")


def _folded(value: object) -> str:
    return str(value or "").strip().casefold()


def _fold(values: list[str]) -> set[str]:
    return {_folded(v) for v in values}


class LaunchChecklistRule(EventRuleBase):
    """Evaluates one `launch_checklist` rule: changes in, one finding per template task out."""

    config: LaunchChecklistRuleConfig

    def __init__(self, config: LaunchChecklistRuleConfig, rules_file: RulesFile) -> None:
        super().__init__(config, config.needed_attributes(rules_file))
        self._stage_attribute = rules_file.workflow_stage_attribute
        self._stage_order = [_folded(s) for s in config.stage_order or rules_file.workflow_stages or []]
        self._specs = {spec.scope: spec for spec in config.scope_specs(rules_file.defaults)}

    def scopes(self) -> list[str]:
        return list(self._specs)

    def watch(self) -> Watch:
        trigger = self.config.trigger
        stages = bool(trigger.stages) or bool(self._stage_order)
        return Watch(attributes=frozenset({self._stage_attribute} if stages else set()), status=True)

    def evaluate_changes(self, view: ProductView, changes: tuple[Change, ...], environment: str,
                         enabled_at: Optional[datetime]) -> list[Finding]:
        """A launch starts on creation (after the rule was enabled) or on entering a trigger stage/status
        of a selected product; leaving backwards (to an earlier stage, or Archived) retracts the set when
        on_leave is close."""
        trigger = self.config.trigger
        for change in changes:
            if change.kind is ChangeKind.created and trigger.on_create and _after(change.new, enabled_at):
                return self._set(view, environment, change, "created in Plytix") if self.selects(view) else []
            if trigger.entered(change, self._stage_attribute):
                return self._set(view, environment, change, f"entered {change.new}") if self.selects(view) else []
        leaving = next((c for c in changes if self._left_backwards(c)), None)
        if leaving is not None and self.config.on_leave == "close":
            return self._set(view, environment, leaving, "", close_note=(
                f"the product left the launch stage ({leaving.old} -> {leaving.new}) before the launch"))
        return []

    def _left_backwards(self, change: Change) -> bool:
        trigger = self.config.trigger
        if change.kind is ChangeKind.status and change.field == STATUS_FIELD:
            return change.new == "Archived" or bool(trigger.status and change.old in trigger.status
                                                    and change.new not in trigger.status)
        if change.kind is not ChangeKind.attribute or change.field != self._stage_attribute or not trigger.stages:
            return False
        if _folded(change.old) not in _fold(trigger.stages) or _folded(change.new) in _fold(trigger.stages):
            return False
        order = self._stage_order
        if _folded(change.new) not in order:
            return not order  # without a stage order any way out of the launch stages counts as backwards
        return order.index(_folded(change.new)) < min(order.index(s) for s in _fold(trigger.stages))

    def _set(self, view: ProductView, environment: str, change: Change, why: str,
             close_note: str = "") -> list[Finding]:
        version = change.version if self.config.new_set_on_reentry else ""
        wave = self.config.wave.wave_of(view) if self.config.wave else None
        plan_request = ((self.config.wave.group_id, self.config.wave.title.replace("{wave}", wave))
                        if self.config.wave and wave else None)
        findings = []
        for index, task in enumerate(self.config.tasks):
            spec = self._specs[f"task:{task.key}"]
            title = render_title(self.config.title, {
                "sku": view.sku, "label": view.label, "product_id": view.id, "rule_id": self.id,
                "rule_name": self.name, "scope": f" [{task.name}]", "family": view.family or ""})
            findings.append(Finding(
                rule_id=self.id, fingerprint=fingerprint(environment, self.id, view.id, spec.scope, version),
                subject=view.id, scope=spec.scope, title=title,
                missing=(Requirement(task.key, task.name, "", why or "launch"),), satisfied=(),
                owner_upn=spec.owner_for(view), plan_id=spec.setting("plan_id"), bucket=spec.setting("bucket"),
                priority=spec.priority, due_in_days=self._due_in_days(task, view),
                description=why, product=ProductRef(id=view.id, sku=view.sku, label=view.label, family=view.family,
                                                    stage=view.stage),
                group_key=f"{self.id}:{view.family or ''}:{task.key}", version=version,
                event={"task": index, "why": why, "close_note": close_note, "wave": wave or ""},
                plan_request=None if close_note else plan_request))
        return findings

    def _due_in_days(self, task: LaunchTaskConfig, view: ProductView) -> Optional[int]:
        if task.due is None:
            return None
        if task.due.from_ == "now":
            return max(0, task.due.days)
        launch = _date(view.attributes.get(self.config.launch_date_attribute or ""))
        if launch is None:
            return None  # no launch date yet: no due date rather than a wrong one
        return max(0, (launch - datetime.now(timezone.utc).date()).days + task.due.days)

    def desired_for(self, finding: Finding, link: Optional[Link]) -> Desired:
        """The task for one template item: its checklist and a description naming product and occasion."""
        from shared.reconcile.content import checklist_for, marker_line  # the reconciler imports the rules package
        from shared.reconcile.plan import Desired
        task = self.config.tasks[int(finding.event.get("task", 0))]
        product = finding.product
        lines = [f"Launch task \"{task.name}\" for product {product.sku} ({product.label or 'no label'}), "
                 f"family {product.family or 'unknown'}: {finding.event.get('why') or 'launch'}."]
        if finding.event.get("wave"):
            lines.append(f"Launch wave: {finding.event['wave']}.")
        lines += ["", f"Part of the launch set of rule \"{self.name}\" "
                      f"({', '.join(t.name for t in self.config.tasks)}).", marker_line(finding.fingerprint)]
        close_note = str(finding.event.get("close_note") or "")
        data: dict[str, object] = {"kind": "launch", "sku": product.sku, "task": task.key,
                                   "missing_labels": [task.name], **({"close_note": close_note} if close_note else {}),
                                   # job 4: the product moves on (on_complete) once every task of the set is done
                                   "set": {"key": f"{finding.subject}/{finding.version or 'launch'}",
                                           "size": len(self.config.tasks)},
                                   "stage": product.stage}
        if link is not None:  # an existing set keeps what it was created with; only a close note is new
            data = {**data, **{k: v for k, v in link.data.items() if k not in ("checklist", "description_hash")},
                    **({"close_note": close_note} if close_note else {})}
        return Desired(
            rule_id=self.id, fingerprint=finding.fingerprint, scope=finding.scope, title=finding.title,
            description="\n".join(lines),
            checklist=checklist_for(finding.fingerprint, [(f"item{i}", item) for i, item in enumerate(task.checklist)]),
            owner_upn=finding.owner_upn, plan_id=finding.plan_id, bucket=finding.bucket, priority=finding.priority,
            due_in_days=finding.due_in_days, product_id=finding.subject, data=data)


def _after(created: object, enabled_at: Optional[datetime]) -> bool:
    if enabled_at is None or not created:
        return False
    try:
        moment = datetime.fromisoformat(str(created))
    except ValueError:
        return False
    return moment > enabled_at


def _date(value: object) -> Optional[date]:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
