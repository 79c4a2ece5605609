"""The rules file: its models, and loading it with errors that name file, line and field.

Why validate everything at load: the rules drive tasks for real people. A typo found at load time is one
clear message (`rules.yaml:14: rules[0].require[2].min_count: must be 1 or more`); the same typo found
mid-scan is thousands of wrong or missing tasks. So every model forbids unknown keys, every value is
checked, and cross-field checks (unique ids, an owner and a plan for every task, the 20-attribute search
limit, stable titles) run before a RulesFile is handed out.

Adding a rule type: write a model deriving from `RuleConfigBase` with a `type: Literal["<name>"]` field,
add it to `RuleConfig` below, and give it a `problems()` for its cross-field checks; `build_rules` in
shared/rules/__init__.py maps it to the class that evaluates it. The file format is in docs/RULES.md.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Callable,
    Iterable,
    Iterator,
    Literal,
    Mapping,
    Optional,
    Union,
    get_args,
)

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.rules.errors import PathPart, Problem, RulesError, format_path
from shared.rules.findings import Requirement
from shared.rules.on_complete import OnCompleteConfig, on_complete_problems, stage_map_problems
from shared.rules.presence import RequirementKind
from shared.rules.product_view import DEFAULT_STAGE_ATTRIBUTE, ProductView
from shared.rules.templates import DEFAULT_TITLE, check_title_template, placeholders
from shared.rules.yaml_source import YamlDocument, load_yaml
from shared.settings import ReopenPolicy

if TYPE_CHECKING:
    from shared.store.links import Link

# Plytix search: "at most 50 requested attributes besides id and sku (one part of the docs says 20):
# keep <= 20" (API_FACTS.md). One rule must be answerable by one search.
MAX_ATTRIBUTES_PER_RULE = 20

# Planner writes 1 urgent, 3 important, 5 medium, 9 low; the API takes 0-10 (API_FACTS.md, POST /planner/tasks).
PRIORITY_WORDS: dict[str, int] = {"urgent": 1, "important": 3, "medium": 5, "low": 9}
DEFAULT_PRIORITY = PRIORITY_WORDS["medium"]
DEFAULT_LOCALE_PATTERN = "{attribute}_{locale}"
# Archived products are finished with: no rule looks at them unless it lists Archived itself.
Status = Literal["Draft", "Completed", "Archived"]
DEFAULT_STATUSES: tuple[Status, ...] = ("Draft", "Completed")
PLYTIX_STATUSES: tuple[Status, ...] = ("Draft", "Completed", "Archived")  # the only values (API_FACTS.md)

Level = Literal["single", "parent", "variant", "sub_variant"]  # product_level 0/1/2/3

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


# ----------------------------------------------------------------------------------------------------
# Scalar types with messages a person can act on (pydantic's pattern errors only echo the regex).

def _matching(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _text(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters (got {len(value)})")
        return value

    return check


def _upn(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be one UPN such as name@contoso.com")
    if not _EMAIL.fullmatch(value.strip()):
        raise ValueError(f"{value!r} is not a UPN (expected name@domain, e.g. merch.lead@contoso.com)")
    return value.strip()


def _priority(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in PRIORITY_WORDS:
        return PRIORITY_WORDS[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 10:
            return value
        raise ValueError(f"{value} is out of range: use 0-10 or urgent, important, medium, low")
    raise ValueError(f"{value!r} is not a priority: use urgent, important, medium, low or an integer 0-10")


def _category_path(value: str) -> str:
    parts = [part.strip() for part in value.split("/")]
    if not all(parts):
        raise ValueError(f"{value!r} is not a category path: write the category names from the root "
                         "separated by '/', e.g. Home/Kitchen")
    return "/".join(parts)


def _path_parts(path: str) -> tuple[str, ...]:
    """A validated category path ("Home/Kitchen") as the tuple ProductView.in_category takes."""
    return tuple(path.split("/"))


def _status(value: Any) -> Any:
    """Accept any letter case ("draft"); Plytix itself only knows the capitalised words."""
    if isinstance(value, str):
        for status in PLYTIX_STATUSES:
            if value.strip().lower() == status.lower():
                return status
    return value


def _locale_pattern(value: str) -> str:
    if placeholders(value) != {"attribute", "locale"}:
        raise ValueError("must contain {attribute} and {locale} and no other placeholder, "
                         "e.g. {attribute}_{locale}")
    _attribute_label(value.format(attribute="a", locale="en"))
    return value


_attribute_label = _matching(r"[A-Za-z0-9_-]{1,100}", "an attribute label (the slug such as description_en, "
                                                       "not the display name)")

RuleId = Annotated[str, AfterValidator(_matching(r"[a-z0-9_-]{1,60}",
                                                 "a rule id (1-60 characters of a-z, 0-9, '-', '_')"))]
ChannelName = Annotated[str, AfterValidator(_matching(r"[a-z0-9_-]{1,40}",
                                                      "a channel name (1-40 characters of a-z, 0-9, '-', '_')"))]
AttributeLabel = Annotated[str, AfterValidator(_attribute_label)]
Locale = Annotated[str, AfterValidator(_matching(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,4})?",
                                                 "a locale code (e.g. en, de, pt_BR)"))]
PlanId = Annotated[str, AfterValidator(_matching(r"\S{1,100}", "a Planner plan id (no spaces)"))]
Upn = Annotated[str, BeforeValidator(_upn)]
Priority = Annotated[int, BeforeValidator(_priority)]
CategoryPath = Annotated[str, AfterValidator(_category_path)]
Name = Annotated[str, AfterValidator(_text(100))]
Text = Annotated[str, AfterValidator(_text(500))]
TitleTemplate = Annotated[str, AfterValidator(check_title_template)]
LocalePattern = Annotated[str, AfterValidator(_locale_pattern)]


class _Model(BaseModel):
    """Every model in the file: unknown keys are errors (a misspelt key must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------------------
# Owners and task settings (shared by defaults, rules and channels)

class OwnersConfig(_Model):
    """Owners chosen by the product. Resolution: by_category (the longest matching path wins), then
    by_family (family name or id), then default."""

    default: Optional[Upn] = None
    by_family: dict[Name, Upn] = Field(default_factory=dict)
    by_category: dict[CategoryPath, Upn] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_someone(self) -> "OwnersConfig":
        if self.default is None and not self.by_family and not self.by_category:
            raise ValueError("set at least one of default, by_family, by_category")
        return self

    def resolve(self, view: ProductView) -> Optional[str]:
        matches = [(len(_path_parts(path)), path, upn) for path, upn in self.by_category.items()
                   if view.in_category(_path_parts(path))]
        if matches:
            # Deepest path first; equal depths are decided by the path's name, so the result is stable.
            return min(matches, key=lambda m: (-m[0], m[1]))[2]
        for family, upn in self.by_family.items():
            if family in (view.family_name, view.family_id):
                return upn
        return self.default


class TaskSettings(_Model):
    """Where a task goes and who gets it. Set in `defaults`, on a rule, or on a channel; the most
    specific level that sets a value wins."""

    plan_id: Optional[PlanId] = None
    bucket: Optional[Name] = None
    priority: Optional[Priority] = None
    due_in_days: Optional[int] = Field(None, ge=0, le=3650)
    owner: Optional[Upn] = None
    owners: Optional[OwnersConfig] = None

    @field_validator("owners", mode="before")
    @classmethod
    def _owners_shape(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("must be a mapping with default, by_family and/or by_category "
                             "(for a single owner write owner: name@domain)")
        if value is not None and info.data.get("owner") is not None:
            raise ValueError("set either owner or owners, not both")
        return value

    def owner_for(self, view: ProductView) -> Optional[str]:
        return self.owners.resolve(view) if self.owners else self.owner

    def fallback_owner(self) -> Optional[str]:
        """The owner for a product no by_family/by_category entry matches."""
        return self.owners.default if self.owners else self.owner


# ----------------------------------------------------------------------------------------------------
# required_attributes

@dataclass(frozen=True)
class AttributeCheck:
    """One concrete check: a requirement expanded for one locale."""

    requirement: Requirement
    kind: RequirementKind
    min_count: int


def _requirement_shorthand(value: Any) -> Any:
    """`- description` is short for `- attribute: description` (kind text)."""
    return {"attribute": value} if isinstance(value, str) else value


class RequirementConfig(_Model):
    """One required attribute and what "present" means for it."""

    attribute: AttributeLabel
    kind: RequirementKind = "text"
    min_count: Optional[int] = None
    locales: Optional[list[Locale]] = None
    label: Optional[Name] = None
    reason: Optional[Text] = None

    @field_validator("min_count")
    @classmethod
    def _min_count(cls, value: Optional[int], info: ValidationInfo) -> Optional[int]:
        if value is not None:
            if info.data.get("kind", "media") != "media":
                raise ValueError("only applies to kind: media")
            if value < 1:
                raise ValueError(f"must be 1 or more (got {value})")
        return value

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None:
            if not value:
                raise ValueError("must list at least one locale (omit 'locales' for an untranslated attribute)")
            duplicates = sorted({locale for locale in value if value.count(locale) > 1})
            if duplicates:
                raise ValueError(f"lists {', '.join(duplicates)} more than once")
        return value

    def checks(self, locale_pattern: str) -> list[AttributeCheck]:
        """The concrete checks, one per locale (`description` + [en, de] -> description_en, description_de)."""
        result = []
        count = self.min_count or 1
        locales: list[Optional[str]] = [*self.locales] if self.locales else [None]
        for locale in locales:
            attribute = locale_pattern.format(attribute=self.attribute, locale=locale) if locale else self.attribute
            name = self.label or self.attribute
            if self.kind == "media":
                key, meaning = f"{attribute}>={count}", f"needs at least {count} asset{'s' if count > 1 else ''}"
            elif self.kind == "html":
                key, meaning = attribute, "needs visible text (tags and &nbsp; alone count as empty)"
            else:
                key, meaning = attribute, "must not be blank"
            requirement = Requirement(key=key, label=f"{name} ({locale})" if locale else name,
                                      attribute=attribute, reason=self.reason or meaning)
            result.append(AttributeCheck(requirement, self.kind, count))
        return result


RequirementItem = Annotated[RequirementConfig, BeforeValidator(_requirement_shorthand)]


def _status_list(value: Any) -> Any:
    return [_status(item) for item in value] if isinstance(value, list) else value


class SelectorConfig(_Model):
    """Which products a rule looks at. Every key that is set must match (AND); within a list, any
    value matches (OR)."""

    families: Optional[list[Name]] = None
    categories: Optional[list[CategoryPath]] = None
    status: Annotated[list[Status], BeforeValidator(_status_list)] = Field(
        default_factory=lambda: list(DEFAULT_STATUSES))
    stages: Optional[list[Name]] = None
    levels: Optional[list[Level]] = None

    @field_validator("families", "categories", "status", "stages", "levels")
    @classmethod
    def _not_empty(cls, value: Optional[list[Any]]) -> Optional[list[Any]]:
        if value is not None and not value:
            raise ValueError("must list at least one value (an empty list would select nothing)")
        return value

    def matches(self, view: ProductView) -> bool:
        if view.status not in self.status:
            return False
        if self.families is not None and not {view.family_name, view.family_id} & set(self.families):
            return False
        if self.categories is not None and not any(view.in_category(_path_parts(p)) for p in self.categories):
            return False
        if self.stages is not None and (view.stage or "").casefold() not in {s.casefold() for s in self.stages}:
            return False
        return self.levels is None or view.level in self.levels


class ChannelConfig(TaskSettings):
    """A channel's own requirement set (scope "channel:<name>"), with optional task settings."""

    require: list[RequirementItem]

    @field_validator("require")
    @classmethod
    def _require_not_empty(cls, value: list[RequirementConfig]) -> list[RequirementConfig]:
        if not value:
            raise ValueError("must list at least one requirement")
        return value


@dataclass(frozen=True)
class ScopeSpec:
    """One scope of a rule: its requirements and the task settings that apply, most specific first."""

    scope: str  # "" or "channel:<name>"
    path: tuple[PathPart, ...]  # where its require list is, relative to the rule
    requirements: tuple[RequirementConfig, ...]
    layers: tuple[TaskSettings, ...]

    def setting(self, name: str) -> Any:
        return next((getattr(layer, name) for layer in self.layers if getattr(layer, name) is not None), None)

    @property
    def priority(self) -> int:
        value = self.setting("priority")
        return DEFAULT_PRIORITY if value is None else value

    def owner_for(self, view: ProductView) -> str:
        for layer in self.layers:
            owner = layer.owner_for(view)
            if owner is not None:
                return owner
        # parse_rules rejects a file where this can happen (see RequiredAttributesRuleConfig.problems).
        raise LookupError(f"no owner for scope {self.scope!r}: load rules with parse_rules/load_rules")

    def fallback_owner(self) -> Optional[str]:
        return next((layer.fallback_owner() for layer in self.layers if layer.fallback_owner()), None)

    def checks(self, locale_pattern: str) -> list[AttributeCheck]:
        return [check for requirement in self.requirements for check in requirement.checks(locale_pattern)]


Problems = Iterator[tuple[tuple[PathPart, ...], str]]


def placement_problems(specs: list[ScopeSpec], below: str, *, owners: bool = True) -> Problems:
    """Every task needs a plan, a bucket and (with `owners`) an owner for any product; `below` names the
    level under the rule where they may be set too ("its channels")."""
    for name in ("plan_id", "bucket"):
        if any(spec.setting(name) is None for spec in specs):
            yield (name,), f"not set on the rule, {below} or in defaults"
    if owners and any(spec.fallback_owner() is None for spec in specs):
        yield ("owner",), ("no owner for products that no by_family/by_category entry matches: set owner "
                           f"or owners.default on the rule, {below} or in defaults")


def attribute_limit_problems(needed: set[str]) -> Problems:
    """One rule must be answerable by one Plytix search (MAX_ATTRIBUTES_PER_RULE attributes)."""
    if len(needed) > MAX_ATTRIBUTES_PER_RULE:
        yield (), (f"needs {len(needed)} attributes, more than the {MAX_ATTRIBUTES_PER_RULE} one Plytix "
                   f"search may request: split it into several rules ({', '.join(sorted(needed))})")


class RuleConfigBase(TaskSettings):
    """What every rule type has: identity, switches for the reconciler, and the task title."""

    id: RuleId
    name: Name
    enabled: bool = True
    reopen_policy: Optional[ReopenPolicy] = None  # None: the app setting REOPEN_POLICY decides
    group_threshold: Optional[int] = Field(None, ge=2, le=10_000)  # None: the app setting GROUP_THRESHOLD
    title: TitleTemplate = DEFAULT_TITLE
    on_complete: Optional[OnCompleteConfig] = None  # job 4: see shared/rules/on_complete.py

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        """The scopes the rule acts in, each with its effective task settings; every rule type says."""
        raise NotImplementedError(type(self).__name__)

    def problems(self, rules_file: "RulesFile") -> Problems:
        """What is wrong with the rule in the context of the whole file; every rule type says."""
        raise NotImplementedError(type(self).__name__)

    def attribute_refs(self, rules_file: "RulesFile") -> Iterator[tuple[tuple[PathPart, ...], str]]:
        """(where in the rule, attribute label) for every custom attribute the rule reads, so a label the
        Plytix account does not have can be pinned to its line. Rule types with their own layout
        override this; the default points at the rule for each label `needed_attributes` names."""
        needed = getattr(self, "needed_attributes", None)
        for label in sorted(needed(rules_file)) if callable(needed) else ():
            yield (), label
        yield from self.write_back_refs(rules_file)

    def write_back_refs(self, rules_file: "RulesFile") -> Iterator[tuple[tuple[PathPart, ...], str]]:
        """The attributes `on_complete` writes to Plytix: its `set` labels, and the workflow-stage
        attribute for `stage`."""
        if self.on_complete is None:
            return
        if self.on_complete.stage:
            yield ("on_complete", "stage"), rules_file.workflow_stage_attribute
        for label in self.on_complete.set:
            yield ("on_complete", "set", label), label


class RuleIdentity:
    """What every rule evaluator takes from its config: the `Rule` protocol's plain attributes."""

    def __init__(self, config: RuleConfigBase) -> None:
        self.id: str = config.id
        self.name: str = config.name
        self.reopen_policy: Optional[ReopenPolicy] = config.reopen_policy
        self.group_threshold: Optional[int] = config.group_threshold


class GroupRule(RuleIdentity):
    """A rule whose findings are about groups of products kept in a table (jobs 6, 7): it reads every
    product, because one that stops matching must leave its groups, and asks the search for the attributes
    its config names."""

    def __init__(self, config: RuleConfigBase, needed: Iterable[str]) -> None:
        super().__init__(config)
        self._needed = frozenset(needed)

    def selects(self, view: ProductView) -> bool:
        return True

    def needed_attributes(self) -> set[str]:
        return set(self._needed)


def members_left(link: Optional["Link"], current: Mapping[str, str], keep: int) -> dict[str, str]:
    """A group task's products (id -> SKU) that left since its last write, the newest `keep` of them: the
    link's stored members and earlier leavers not in `current`. Why stored: a leaver is no longer read,
    but its task should still say it left."""
    before = {**((link.data.get("left") if link else None) or {}),
              **((link.data.get("products") if link else None) or {})}
    return dict([(pid, sku) for pid, sku in before.items() if pid not in current][-keep:])


def task_settings_problems(specs: list[ScopeSpec], where: str, owner_where: str) -> Problems:
    """Every scope's task needs a plan, a bucket and an owner from some level (`where` and `owner_where`
    name the levels a person can set them on)."""
    for name in ("plan_id", "bucket"):
        if any(spec.setting(name) is None for spec in specs):
            yield (name,), f"not set on {where} or in defaults"
    if any(spec.fallback_owner() is None for spec in specs):
        yield ("owner",), ("no owner for products that no by_family/by_category entry matches: set owner "
                           f"or owners.default on {owner_where} or in defaults")


def stage_attributes(rule: Any, rules_file: "RulesFile") -> set[str]:
    """The workflow-stage attribute, when the rule selects by stage or its write-back moves the stage."""
    uses_stage = rule.select.stages is not None or (rule.on_complete is not None and rule.on_complete.stage)
    return {rules_file.workflow_stage_attribute} if uses_stage else set()


class RequiredAttributesRuleConfig(RuleConfigBase):
    """`type: required_attributes`: selected products must have these attributes (per channel too)."""

    type: Literal["required_attributes"]
    select: SelectorConfig = Field(default_factory=SelectorConfig)
    require: Optional[list[RequirementItem]] = None
    channels: dict[ChannelName, ChannelConfig] = Field(default_factory=dict)

    @field_validator("require")
    @classmethod
    def _require_not_empty(cls, value: Optional[list[RequirementConfig]]) -> Optional[list[RequirementConfig]]:
        if value is not None and not value:
            raise ValueError("must list at least one requirement (omit 'require' for a rule with only channels)")
        return value

    @model_validator(mode="after")
    def _checks_something(self) -> "RequiredAttributesRuleConfig":
        if self.require is None and not self.channels:
            raise ValueError("set 'require' and/or 'channels': this rule checks nothing")
        return self

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        specs = []
        if self.require is not None:
            specs.append(ScopeSpec("", ("require",), tuple(self.require), (self, defaults)))
        for name, channel in self.channels.items():
            specs.append(ScopeSpec(f"channel:{name}", ("channels", name, "require"), tuple(channel.require),
                                   (channel, self, defaults)))
        return specs

    def needed_attributes(self, rules_file: RulesFile) -> set[str]:
        """Attribute labels a product search must return for this rule (locales expanded)."""
        return {check.requirement.attribute for spec in self.scope_specs(rules_file.defaults)
                for check in spec.checks(rules_file.locale_pattern)} | stage_attributes(self, rules_file)

    def attribute_refs(self, rules_file: RulesFile) -> Iterator[tuple[tuple[PathPart, ...], str]]:
        """Each requirement's labels (locales expanded) at its own line; the workflow-stage attribute at
        `select.stages`, the key that makes the rule read it."""
        for spec in self.scope_specs(rules_file.defaults):
            for index, requirement in enumerate(spec.requirements):
                for check in requirement.checks(rules_file.locale_pattern):
                    yield spec.path + (index, "attribute"), check.requirement.attribute
        if self.select.stages is not None:
            yield ("select", "stages"), rules_file.workflow_stage_attribute
        yield from self.write_back_refs(rules_file)

    def problems(self, rules_file: RulesFile) -> Problems:
        """Checks that need the whole file (defaults, locale pattern); paths are relative to the rule."""
        specs = self.scope_specs(rules_file.defaults)
        yield from task_settings_problems(specs, "the rule, its channels", "the rule")
        if self.channels and "scope" not in placeholders(self.title):
            yield ("title",), "must contain {scope}: this rule has channels, and each scope needs its own title"
        for spec in specs:
            first_seen: dict[str, int] = {}
            for index, requirement in enumerate(spec.requirements):
                for check in requirement.checks(rules_file.locale_pattern):
                    key = check.requirement.key
                    if key in first_seen:
                        yield spec.path + (index,), (f"requirement '{key}' is already listed at "
                                                     f"{format_path(spec.path + (first_seen[key],))}")
                    first_seen.setdefault(key, index)
        needed = self.needed_attributes(rules_file)
        if len(needed) > MAX_ATTRIBUTES_PER_RULE:
            yield (), (f"needs {len(needed)} attributes, more than the {MAX_ATTRIBUTES_PER_RULE} one Plytix "
                       f"search may request: split it into several rules ({', '.join(sorted(needed))})")


# Add new rule models here; the `type` key picks the model. Rule types that live in their own module
# (config model and evaluator together) are imported here, after the bases they build on.
from shared.rules.catalog_project import CatalogProjectRuleConfig  # noqa: E402
from shared.rules.channel_requirements import ChannelRequirementsRuleConfig  # noqa: E402
from shared.rules.data_quality import DataQualityRuleConfig  # noqa: E402
from shared.rules.launch_checklist import LaunchChecklistRuleConfig  # noqa: E402
from shared.rules.review_on_change import ReviewOnChangeRuleConfig  # noqa: E402

RULE_MODELS: tuple[type[RuleConfigBase], ...] = (RequiredAttributesRuleConfig, LaunchChecklistRuleConfig,
                                                 ReviewOnChangeRuleConfig, ChannelRequirementsRuleConfig,
                                                 DataQualityRuleConfig, CatalogProjectRuleConfig)
if TYPE_CHECKING:
    # The type checker cannot build a Union from a runtime tuple; what callers rely on is the base.
    RuleConfig = RuleConfigBase
else:
    RuleConfig = Annotated[Union[RULE_MODELS], Field(discriminator="type")]
RULE_TYPES: tuple[str, ...] = tuple(get_args(model.model_fields["type"].annotation)[0] for model in RULE_MODELS)


class PlanOverflowConfig(_Model):
    """What happens to new tasks once a plan nears Planner's limit of about 2,400 active tasks (403
    MaximumActiveTasksInProject, API_FACTS.md): `digest` groups them into one task per rule and family
    (the grouped tasks of GROUP_THRESHOLD), `spill` creates them in `spill_plan_id` instead."""

    policy: Literal["digest", "spill"] = "digest"
    spill_plan_id: Optional[PlanId] = None

    @model_validator(mode="after")
    def _spill_needs_a_plan(self) -> "PlanOverflowConfig":
        if self.policy == "spill" and self.spill_plan_id is None:
            raise ValueError("policy spill needs spill_plan_id: the plan that takes the tasks that do not fit")
        if self.policy == "digest" and self.spill_plan_id is not None:
            raise ValueError("spill_plan_id is only used with policy: spill")
        return self


class RulesFile(_Model):
    """A validated rules file. Build it with `load_rules` or `parse_rules`, which also run the
    cross-field checks (`problems`)."""

    version: Literal[1]
    defaults: TaskSettings = Field(default_factory=TaskSettings)
    plan_overflow: PlanOverflowConfig = Field(default_factory=PlanOverflowConfig)
    workflow_stage_attribute: AttributeLabel = DEFAULT_STAGE_ATTRIBUTE
    locale_pattern: LocalePattern = DEFAULT_LOCALE_PATTERN
    workflow_stages: Optional[list[Name]] = None  # the stage map, in order (on_complete `stage`)
    rules: list[RuleConfig]
    _source: Optional[YamlDocument] = PrivateAttr(None)  # the parsed file, for the line of a later problem

    def problem(self, path: tuple[PathPart, ...], message: str) -> Problem:
        """A Problem at `path` with its file and line (when this file was parsed from YAML), for checks
        that run after loading, such as the one against the Plytix account."""
        if self._source is None:
            return Problem("<rules>", None, format_path(path), message)
        return self._source.problem(path, message)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the validated content, not of the bytes: editing a comment or re-indenting does not
        trigger the full catalog sweep that a real rules change does."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def plan_ids(self) -> set[str]:
        """The plans the enabled rules write to: each scope's effective plan (channel, rule, defaults), and
        the plan that takes what does not fit (plan_overflow.spill_plan_id)."""
        plans = {plan for rule in self.rules if rule.enabled
                 for spec in rule.scope_specs(self.defaults) if (plan := spec.setting("plan_id"))}
        spill = self.plan_overflow.spill_plan_id
        return plans | {spill} if spill else plans

    def problems(self) -> Problems:
        yield from stage_map_problems(self.workflow_stages)
        spill = self.plan_overflow.spill_plan_id
        if spill is not None and any(rule.enabled and spec.setting("plan_id") == spill
                                     for rule in self.rules for spec in rule.scope_specs(self.defaults)):
            yield ("plan_overflow", "spill_plan_id"), "must be a plan no rule writes to (it takes their overflow)"
        first_index: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.id in first_index:
                yield ("rules", index, "id"), f"duplicate rule id '{rule.id}' (also rules[{first_index[rule.id]}])"
            first_index.setdefault(rule.id, index)
            for path, message in rule.problems(self):
                yield ("rules", index) + path, message
            if rule.on_complete is not None:
                for path, message in on_complete_problems(rule.on_complete, self.workflow_stages,
                                                          self.workflow_stage_attribute):
                    yield ("rules", index) + path, message


# ----------------------------------------------------------------------------------------------------
# Loading

def load_rules(path: str | os.PathLike[str]) -> RulesFile:
    """Read and validate the rules file at `path`; RulesError lists every problem as FILE:LINE: field: message."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError([Problem(filename, None, "(file)", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise RulesError([Problem(filename, None, "(file)", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_rules(text, filename)


def parse_rules(text: str, filename: str = "<rules>") -> RulesFile:
    """Validate rules given as YAML text; `filename` is only used in messages."""
    document = load_yaml(text, filename)
    if not isinstance(document.data, dict):
        raise RulesError([document.problem((), "must be a mapping with 'version' and 'rules' "
                                                "(see rules.example.yaml)")])
    try:
        rules_file = RulesFile.model_validate(document.data)
    except ValidationError as exc:
        raise RulesError(_problem(document, error) for error in exc.errors()) from None
    problems = [document.problem(path, message) for path, message in rules_file.problems()]
    if problems:
        raise RulesError(problems)
    rules_file._source = document
    return rules_file


def _problem(document: YamlDocument, error: Any) -> Problem:
    """Turn one pydantic error into FILE:LINE: field.path: message."""
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "rules" and loc[2] in RULE_TYPES:
        del loc[2]  # pydantic puts the discriminator's tag into the location; the file has no such level
    if loc and loc[-1] == "[key]":
        loc.pop()  # a bad mapping key: point at the key itself
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'" + _did_you_mean(str(loc[-1]))
    elif kind == "missing":
        message = "is required"
    elif kind == "union_tag_invalid":
        loc.append("type")
        message = f"unknown rule type {ctx.get('tag')!r}: use one of {', '.join(RULE_TYPES)}"
    elif kind == "union_tag_not_found":
        loc.append("type")
        message = f"is required: one of {', '.join(RULE_TYPES)}"
    elif kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error"))
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "must be a mapping" + _got(error.get("input"))
    elif kind == "list_type":
        message = "must be a list" + _got(error.get("input"))
    else:
        message = error["msg"].replace("Input should be", "must be") + _got(error.get("input"))
    return document.problem(loc, message)


def _got(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)):
        shown = repr(value)
        return f" (got {shown[:60] + '…' if len(shown) > 60 else shown})"
    return ""


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, sorted(_known_keys()), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _known_keys() -> set[str]:
    """Every key any model in the file accepts (all subclasses of _Model, so new rule types count)."""
    keys: set[str] = set()
    pending: list[type[BaseModel]] = [_Model, OnCompleteConfig]
    while pending:
        model = pending.pop()
        keys.update(model.model_fields)
        pending.extend(model.__subclasses__())
    return keys
