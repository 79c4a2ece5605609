"""Rules: the rules file, products as rules see them, and the findings rules produce.

Every rule type plugs in the same way: a config model in shared/rules/config.py (picked by `type`) and a
class satisfying `Rule`, registered in `_BUILDERS`. The feed and the reconciler only use `Rule`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from shared.rules.account import AccountMismatch, account_problems, check_against_account
from shared.rules.catalog_project import CatalogProjectRule, CatalogProjectRuleConfig
from shared.rules.channel_requirements import ChannelRequirementsRule, ChannelRequirementsRuleConfig
from shared.rules.config import RequiredAttributesRuleConfig, RulesFile, load_rules, parse_rules
from shared.rules.data_quality import DataQualityRule, DataQualityRuleConfig
from shared.rules.errors import Problem, RulesError
from shared.rules.findings import Finding, ProductRef, Requirement, fingerprint
from shared.rules.launch_checklist import LaunchChecklistRule, LaunchChecklistRuleConfig
from shared.rules.product_view import ProductView
from shared.rules.required_attributes import RequiredAttributesRule
from shared.rules.review_on_change import ReviewOnChangeRule, ReviewOnChangeRuleConfig
from shared.settings import ReopenPolicy

if TYPE_CHECKING:
    from shared.change_feed import Change, Watch
    from shared.reconcile.plan import Desired
    from shared.store.links import Link


class Rule(Protocol):
    """What the feed and the reconciler need from any rule."""

    id: str
    name: str
    reopen_policy: Optional[ReopenPolicy]  # None: use the app setting REOPEN_POLICY
    group_threshold: Optional[int]  # None: use the app setting GROUP_THRESHOLD

    def selects(self, view: ProductView) -> bool: ...

    def evaluate(self, view: ProductView, environment: str) -> list[Finding]: ...

    def needed_attributes(self) -> set[str]: ...

    def scopes(self) -> list[str]: ...


class EventRule(Rule, Protocol):
    """A change-triggered rule (jobs 2, 3): findings come from change events (shared/change_feed.py), carry
    the change's version in their fingerprint, and an absent finding never means "fixed"."""

    def watch(self) -> "Watch": ...

    def evaluate_changes(self, view: ProductView, changes: "tuple[Change, ...]", environment: str,
                         enabled_at: Optional[datetime]) -> list[Finding]: ...

    def desired_for(self, finding: Finding, link: "Optional[Link]") -> "Desired": ...


def is_event_rule(rule: Rule) -> bool:
    return hasattr(rule, "evaluate_changes")


_BUILDERS: dict[type, Callable[[Any, RulesFile], Rule]] = {
    RequiredAttributesRuleConfig: RequiredAttributesRule,
    LaunchChecklistRuleConfig: LaunchChecklistRule,
    ReviewOnChangeRuleConfig: ReviewOnChangeRule,
    ChannelRequirementsRuleConfig: ChannelRequirementsRule,
    DataQualityRuleConfig: DataQualityRule,
    CatalogProjectRuleConfig: CatalogProjectRule,
}


def build_rules(rules_file: RulesFile) -> list[Rule]:
    """The enabled rules of a validated file, in file order."""
    return [_BUILDERS[type(config)](config, rules_file) for config in rules_file.rules if config.enabled]


__all__ = ["AccountMismatch", "EventRule", "Finding", "Problem", "ProductRef", "ProductView", "Requirement", "Rule",
           "RulesError", "RulesFile", "account_problems", "build_rules", "check_against_account", "fingerprint",
           "is_event_rule", "load_rules", "parse_rules"]
