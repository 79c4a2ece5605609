"""What every rule class takes from its validated config: identity, the reconciler's switches, selection.

Why a base: each rule type is one module (config model and evaluator), and without this each evaluator
would start with the same dozen lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional

from shared.rules.findings import Finding
from shared.rules.product_view import ProductView
from shared.settings import ReopenPolicy

if TYPE_CHECKING:
    from shared.rules.config import RuleConfigBase


class ConfiguredRule:
    """`id`, `name`, `reopen_policy`, `group_threshold` from the config; `selects` by its `select`."""

    def __init__(self, config: "RuleConfigBase", needed_attributes: Iterable[str]) -> None:
        self.config: Any = config
        self.id: str = config.id
        self.name: str = config.name
        self.reopen_policy: Optional[ReopenPolicy] = config.reopen_policy
        self.group_threshold: Optional[int] = config.group_threshold
        self._needed = frozenset(needed_attributes)

    def selects(self, view: ProductView) -> bool:
        return bool(self.config.select.matches(view))

    def needed_attributes(self) -> set[str]:
        """Attribute labels a product search must request for this rule."""
        return set(self._needed)


class EventRuleBase(ConfiguredRule):
    """A change-triggered rule (see shared.rules.EventRule): the current state alone yields nothing."""

    def evaluate(self, view: ProductView, environment: str) -> list[Finding]:
        return []
