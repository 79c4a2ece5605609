"""The `review_on_change` rule (job 3): a watched attribute changed -> a review task showing old and new.

Watched attributes are regulated or customer-facing content (ingredients, claims, safety text, price),
each with its reviewer (legal, compliance, brand, category). One task per product and attribute:
- the task shows the approved (old) value and the new one; HTML is reduced to the text a reader sees,
  long values are cut with a note, and long text gets a unified diff;
- a further change while the review is open updates the same task: values refreshed, a checklist item
  "Re-review latest change" added (shared/reconcile/events.py maps the new change onto the open task);
- a change back to the approved value before anyone reviewed it closes the task with a note;
- optional hold: the `hold` Dropdown attribute is set to `pending` while a review is open (and back to
  `approved` when a change is undone; on completion job 4 writes `approved`). Both writes are recorded
  as echoes first, so the change feed does not report them.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from shared.change_feed import Change, ChangeKind, Watch
from shared.rules.base import EventRuleBase
from shared.rules.config import (
    AttributeLabel,
    Name,
    Problems,
    RuleConfigBase,
    ScopeSpec,
    SelectorConfig,
    TaskSettings,
    Upn,
    _matching,
    _Model,
    attribute_limit_problems,
    placement_problems,
)
from shared.rules.errors import PathPart
from shared.rules.findings import CHECKLIST_LIMIT, Finding, ProductRef, Requirement, fingerprint
from shared.rules.presence import visible_text
from shared.rules.product_view import ProductView
from shared.rules.templates import placeholders, render_title
from shared.store.links import Link

if TYPE_CHECKING:  # config.py imports this module at its end (the rule-type registry)
    from shared.reconcile.plan import Desired
    from shared.rules.config import RulesFile

ReviewerName = Annotated[str, AfterValidator(_matching(r"[a-z0-9_-]{1,40}", "a reviewer name (1-40 characters "
                                                                             "of a-z, 0-9, '-', '_')"))]
DIFF_FROM_CHARS = 200  # text longer than this (or on several lines) also gets a unified diff
_WRAP = 100  # a sentence longer than this is wrapped before diffing
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


class HoldConfig(_Model):
    """Set `attribute` (a Dropdown) to `pending` while a review is open, `approved` when it is done."""

    attribute: AttributeLabel = "review_status"
    pending: Name = "pending"
    approved: Name = "approved"


def _watch_shorthand(value: Any) -> Any:
    """`- safety_warning` is short for `- attribute: safety_warning`."""
    return {"attribute": value} if isinstance(value, str) else value


class WatchedAttributeConfig(TaskSettings):
    """One watched attribute; its reviewer names an entry of the rule's `reviewers`."""

    attribute: AttributeLabel
    label: Optional[Name] = None
    reviewer: Optional[ReviewerName] = None
    kind: Literal["text", "html"] = "text"


class ReviewOnChangeRuleConfig(RuleConfigBase):
    """`type: review_on_change`: a change to a watched attribute needs a person's review (job 3)."""

    type: Literal["review_on_change"]
    select: SelectorConfig = Field(default_factory=SelectorConfig)
    reviewers: dict[ReviewerName, Upn] = Field(default_factory=dict)
    watch: list[Annotated[WatchedAttributeConfig, BeforeValidator(_watch_shorthand)]]
    hold: Optional[HoldConfig] = None
    max_value_chars: int = Field(1500, ge=100, le=20_000)

    @model_validator(mode="before")
    @classmethod
    def _hold_approves_on_completion(cls, data: Any) -> Any:
        """With a hold, completing the review writes `approved` back (job 4's on_complete `set`); a `set`
        written in the file for the same attribute wins."""
        hold = data.get("hold") if isinstance(data, dict) else None
        on_complete = data.get("on_complete") if isinstance(data, dict) else None
        if not isinstance(hold, dict) or not (on_complete is None or isinstance(on_complete, dict)):
            return data
        on_complete = dict(on_complete or {})
        written: dict[str, Any] = on_complete["set"] if isinstance(on_complete.get("set"), dict) else {}
        on_complete["set"] = {hold.get("attribute", "review_status"): hold.get("approved", "approved"), **written}
        return {**data, "on_complete": on_complete}

    @field_validator("watch")
    @classmethod
    def _watch_not_empty(cls, value: list[WatchedAttributeConfig]) -> list[WatchedAttributeConfig]:
        if not value:
            raise ValueError("must list at least one attribute")
        return value

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        return [ScopeSpec(f"attr:{item.attribute}", ("watch", index), (), (item, self, defaults))
                for index, item in enumerate(self.watch)]

    def needed_attributes(self, rules_file: RulesFile) -> set[str]:
        labels = {item.attribute for item in self.watch}
        if self.hold:
            labels.add(self.hold.attribute)
        if self.select.stages is not None or (self.on_complete and self.on_complete.stage):
            labels.add(rules_file.workflow_stage_attribute)
        return labels

    def attribute_refs(self, rules_file: RulesFile) -> Iterator[tuple[tuple[PathPart, ...], str]]:
        """Each attribute the rule reads or writes, at the key that names it (for the account check); the
        hold's approval is reported at `hold`, where the file names it."""
        for index, item in enumerate(self.watch):
            yield ("watch", index, "attribute"), item.attribute
        if self.hold:
            yield ("hold", "attribute"), self.hold.attribute
        if self.select.stages is not None:
            yield ("select", "stages"), rules_file.workflow_stage_attribute
        yield from (ref for ref in self.write_back_refs(rules_file)
                    if not (self.hold and ref[1] == self.hold.attribute))

    def problems(self, rules_file: RulesFile) -> Problems:
        specs = self.scope_specs(rules_file.defaults)
        yield from placement_problems(specs, "its watched attributes", owners=False)  # reviewers: checked below
        yield from attribute_limit_problems(self.needed_attributes(rules_file))
        first: dict[str, int] = {}
        for index, (item, spec) in enumerate(zip(self.watch, specs, strict=False)):
            if item.attribute in first:
                yield ("watch", index, "attribute"), (f"'{item.attribute}' is already watched "
                                                      f"(watch[{first[item.attribute]}])")
            first.setdefault(item.attribute, index)
            if item.reviewer is not None and item.reviewer not in self.reviewers:
                yield ("watch", index, "reviewer"), (f"unknown reviewer '{item.reviewer}': define it under "
                                                     f"reviewers ({', '.join(sorted(self.reviewers)) or 'none yet'})")
            if item.reviewer is None and spec.fallback_owner() is None:
                yield ("watch", index), "no reviewer: set reviewer, owner or owners (or owner in defaults)"
            if self.hold and item.attribute == self.hold.attribute:
                yield ("watch", index, "attribute"), "is the hold attribute: the rule would review its own writes"
        if len(self.watch) > 1 and "scope" not in placeholders(self.title):
            yield ("title",), "must contain {scope}: each watched attribute needs its own title"


class ReviewOnChangeRule(EventRuleBase):
    """Evaluates one `review_on_change` rule: one finding per changed watched attribute."""

    config: ReviewOnChangeRuleConfig

    def __init__(self, config: ReviewOnChangeRuleConfig, rules_file: RulesFile) -> None:
        super().__init__(config, config.needed_attributes(rules_file))
        self._items = {item.attribute: (item, spec) for item, spec in
                       zip(config.watch, config.scope_specs(rules_file.defaults), strict=False)}

    def scopes(self) -> list[str]:
        return [spec.scope for _item, spec in self._items.values()]

    def watch(self) -> Watch:
        return Watch(attributes=frozenset(self._items), status=False)

    def evaluate_changes(self, view: ProductView, changes: tuple[Change, ...], environment: str,
                         enabled_at: Optional[datetime]) -> list[Finding]:
        if not self.selects(view):
            return []
        return [self._finding(view, environment, change) for change in changes
                if change.kind is ChangeKind.attribute and change.field in self._items]

    def _finding(self, view: ProductView, environment: str, change: Change) -> Finding:
        item, spec = self._items[change.field]
        label = item.label or item.attribute
        owner = self.config.reviewers[item.reviewer] if item.reviewer else spec.owner_for(view)
        hold = self.config.hold
        return Finding(
            rule_id=self.id, fingerprint=fingerprint(environment, self.id, view.id, spec.scope, change.version),
            subject=view.id, scope=spec.scope,
            title=render_title(self.config.title, {
                "sku": view.sku, "label": view.label, "product_id": view.id, "rule_id": self.id,
                "rule_name": self.name, "scope": f" [{label}]", "family": view.family or ""}),
            missing=(Requirement(item.attribute, f"Review {label}", item.attribute, "changed"),), satisfied=(),
            owner_upn=owner, plan_id=spec.setting("plan_id"), bucket=spec.setting("bucket"), priority=spec.priority,
            due_in_days=spec.setting("due_in_days"), description="",
            product=ProductRef(id=view.id, sku=view.sku, label=view.label, family=view.family, stage=view.stage),
            group_key=f"{self.id}:{item.attribute}", version=change.version,
            event={"attribute": item.attribute, "label": label, "kind": item.kind,
                   "old": _text(change.old, item.kind), "old_cut": change.old_cut, "old_hash": change.old_hash,
                   "new": _text(change.new, item.kind), "new_hash": change.new_hash,
                   "hold": ({"attribute": hold.attribute, "pending": hold.pending, "approved": hold.approved,
                             "current": view.attributes.get(hold.attribute)} if hold else None)})

    def desired_for(self, finding: Finding, link: Optional[Link]) -> Desired:
        """The review task. With an open review (`link`), the approved value stays the one from when the
        review opened, the new value is refreshed and each further change adds a re-review item; a change
        back to the approved value asks for the task to be closed."""
        from shared.reconcile.content import checklist_for  # the reconciler imports the rules package
        from shared.reconcile.plan import Desired
        event = finding.event
        baseline = (link.data.get("baseline") if link else None) or {
            "text": event["old"], "cut": event["old_cut"], "hash": event["old_hash"]}
        versions = list((link.data.get("versions") if link else None) or [])
        if finding.version not in versions:
            versions.append(finding.version)
        items = [("review", f"Review {event['label']}: approve the new value or correct it in Plytix")]
        items += [(f"rereview:{v}", "Re-review latest change") for v in versions[1:]]
        items = items[:CHECKLIST_LIMIT]
        data: dict[str, Any] = {"kind": "review", "sku": finding.product.sku, "attribute": event["attribute"],
                                "baseline": baseline, "versions": versions, "new_hash": event["new_hash"],
                                "missing_labels": [f"Review {event['label']}"],
                                # job 4's guard: the stage the product was in when the review opened
                                "stage": (link.data.get("stage") if link else None) or finding.product.stage}
        if link is not None and event["new_hash"] == baseline.get("hash"):
            data["close_note"] = (f"{event['label']} was changed back to the approved value before anyone "
                                  "reviewed the change")
        if event.get("hold"):
            data["hold"] = event["hold"]
        return Desired(
            rule_id=self.id, fingerprint=link.fingerprint if link else finding.fingerprint, scope=finding.scope,
            title=finding.title if link is None else link.title or finding.title,
            description=self._description(finding, baseline, len(versions)),
            checklist=checklist_for(link.fingerprint if link else finding.fingerprint, items),
            owner_upn=finding.owner_upn, plan_id=finding.plan_id, bucket=finding.bucket, priority=finding.priority,
            due_in_days=finding.due_in_days, product_id=finding.subject, data=data)

    def _description(self, finding: Finding, baseline: dict[str, Any], changes: int) -> str:
        from shared.reconcile.content import marker_line
        event, limit = finding.event, self.config.max_value_chars
        product = finding.product
        old, new = str(baseline.get("text") or ""), str(event["new"] or "")
        lines = [f"{event['label']} of product {product.sku} ({product.label or 'no label'}) changed"
                 + (f" {changes} times since it was last approved" if changes > 1 else "") + ". Please review it.",
                 "", "Approved value:", _shown(old, limit, cut_before=bool(baseline.get("cut"))),
                 "", "New value:", _shown(new, limit)]
        if len(old) > DIFF_FROM_CHARS or len(new) > DIFF_FROM_CHARS or "\n" in old or "\n" in new:
            lines += ["", "Changes (unified diff):", _shown(unified_diff(old, new), limit)]
        lines += ["", "Complete this task when the new value is approved.", marker_line(finding.fingerprint)]
        return "\n".join(lines)


def _text(value: Any, kind: str) -> str:
    """A value as people read it: HTML reduced to its visible text, lists and numbers as text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return visible_text(value) if kind == "html" or "<" in value and ">" in value else value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _shown(text: str, limit: int, cut_before: bool = False) -> str:
    if not text:
        return "(empty)"
    note = " (the stored copy of this value was already cut)" if cut_before else ""
    if len(text) <= limit:
        return text + (f"\n[…]{note}" if note else "")
    return f"{text[:limit]}\n[… cut: {limit} of {len(text)} characters shown{note}; open the product in Plytix]"


def unified_diff(old: str, new: str) -> str:
    """A unified diff of two texts, one sentence per line (long ones wrapped): a changed sentence shows as
    one removed and one added line, not as every line after it shifted."""
    def lines(text: str) -> list[str]:
        return [wrapped for line in text.splitlines() for sentence in _SENTENCE_END.split(line)
                for wrapped in (textwrap.wrap(sentence, _WRAP) or [""])]

    return "\n".join(difflib.unified_diff(lines(old), lines(new), "approved", "new", lineterm="", n=1))
