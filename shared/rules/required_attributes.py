"""The `required_attributes` rule: selected products must have certain attributes, per scope.

A scope is the rule's base requirement set ("") or one channel's set ("channel:amazon"); each scope that
has something missing is one finding, so a channel's owner gets a task for that channel's work only.
A complete scope yields no finding: the reconciler then closes its task ("fixed"). `scopes()` lists every
scope the rule can produce, so a scope with no finding is known to be fixed, not "not evaluated".
"""

from __future__ import annotations

from typing import Optional

from shared.rules.config import AttributeCheck, RequiredAttributesRuleConfig, RuleIdentity, RulesFile, ScopeSpec
from shared.rules.findings import Finding, ProductRef, Requirement, fingerprint, missing_summary
from shared.rules.presence import observe
from shared.rules.product_view import ProductView
from shared.rules.templates import render_title, scope_suffix


class RequiredAttributesRule(RuleIdentity):
    """Evaluates one `required_attributes` rule from the validated config."""

    def __init__(self, config: RequiredAttributesRuleConfig, rules_file: RulesFile) -> None:
        super().__init__(config)
        self.config = config
        self._needed = frozenset(config.needed_attributes(rules_file))
        self._scopes: tuple[tuple[ScopeSpec, tuple[AttributeCheck, ...]], ...] = tuple(
            (spec, tuple(spec.checks(rules_file.locale_pattern))) for spec in config.scope_specs(rules_file.defaults))

    def selects(self, view: ProductView) -> bool:
        return self.config.select.matches(view)

    def needed_attributes(self) -> set[str]:
        """Attribute labels a search must request (locale expansions included; the workflow-stage
        attribute when the selector uses stages). System fields are in product_view.PRODUCT_FIELDS."""
        return set(self._needed)

    def scopes(self) -> list[str]:
        return [spec.scope for spec, _checks in self._scopes]

    def evaluate(self, view: ProductView, environment: str) -> list[Finding]:
        """One finding per scope with something missing; none for a complete or unselected product
        (a product that leaves the selection, e.g. is archived, no longer needs its task)."""
        if not self.selects(view):
            return []
        findings = (self._evaluate_scope(view, environment, spec, checks) for spec, checks in self._scopes)
        return [finding for finding in findings if finding is not None]

    def _evaluate_scope(self, view: ProductView, environment: str, spec: ScopeSpec,
                        checks: tuple[AttributeCheck, ...]) -> Optional[Finding]:
        missing: list[Requirement] = []
        satisfied: list[Requirement] = []
        seen: dict[str, str] = {}
        for check in checks:
            observation = observe(check.kind, view.attributes.get(check.requirement.attribute), check.min_count)
            if observation.present:
                satisfied.append(check.requirement)
            else:
                missing.append(check.requirement)
                seen[check.requirement.key] = observation.seen
        if not missing:
            return None
        title = render_title(self.config.title, {
            "sku": view.sku, "label": view.label, "product_id": view.id, "rule_id": self.id,
            "rule_name": self.name, "scope": scope_suffix(spec.scope), "family": view.family or ""})
        return Finding(
            rule_id=self.id,
            fingerprint=fingerprint(environment, self.id, view.id, spec.scope),
            subject=view.id,
            scope=spec.scope,
            title=title,
            missing=tuple(missing),
            satisfied=tuple(satisfied),
            owner_upn=spec.owner_for(view),
            plan_id=spec.setting("plan_id"),
            bucket=spec.setting("bucket"),
            priority=spec.priority,
            due_in_days=spec.setting("due_in_days"),
            description=self._description(view, spec.scope, missing, len(checks), seen),
            product=ProductRef(id=view.id, sku=view.sku, label=view.label, family=view.family, stage=view.stage),
            group_key=f"{self.id}:{view.family or ''}",
        )

    def _description(self, view: ProductView, scope: str, missing: list[Requirement], checked: int,
                     seen: dict[str, str]) -> str:
        product = f"{view.sku}" + (f' "{view.label}"' if view.label else "")
        family = f" (family {view.family})" if view.family else ""
        where = f" for channel {scope.partition(':')[2]}" if scope else ""
        return (f"Rule \"{self.name}\": product {product}{family} is missing {len(missing)} of {checked} "
                f"required attribute{'s' if checked > 1 else ''}{where}.\n"
                f"{missing_summary(missing, seen)}\n"
                "This task closes by itself once the product is complete in Plytix.")
