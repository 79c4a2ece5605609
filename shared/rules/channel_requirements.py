"""The `channel_requirements` rule (job 5): what each sales channel demands of a product, one task per
product and channel for that channel's owner.

A channel lists field checks: required or not, a length limit in characters or UTF-8 bytes, allowed
values or a regex, forbidden words, an image count with minimum pixel dimensions (checked where the asset
data carries `width`/`height`; Plytix's product asset objects do not, per the reference collection, but a
feed's or a custom integration's may), and localized attributes expanded per market.

Each check can look at two sources, and both end up on the same task:
- `attribute`: the Plytix attribute, checked on every feed pass (shared/feed.py; no extra Plytix read);
- `column`: the column of the channel's exported feed (CSV, JSON or XML), checked by the feed checker
  when Plytix says the channel was processed (shared/channels/). This catches what Plytix exported, e.g.
  a channel transformation that truncates a title, not only what the attribute says.
The feed checker stores what it found per product and channel (the `channelfeed` table) and hands it to
this rule through `feed_problems`, so a scheduled pass keeps the feed's checklist items open until the
next feed check says they are fixed, and the task closes only when both sources are clean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Iterator, Literal, Mapping, Optional

from pydantic import AfterValidator, Field, field_validator, model_validator

from shared.rules.config import (
    MAX_ATTRIBUTES_PER_RULE,
    AttributeLabel,
    ChannelName,
    Locale,
    Name,
    Problems,
    RuleConfigBase,
    RuleIdentity,
    ScopeSpec,
    SelectorConfig,
    TaskSettings,
    Text,
    _Model,
    stage_attributes,
    task_settings_problems,
)
from shared.rules.errors import PathPart
from shared.rules.findings import Finding, ProductRef, Requirement, fingerprint, missing_summary
from shared.rules.presence import is_blank, visible_text
from shared.rules.product_view import ProductView
from shared.rules.templates import placeholders, render_title, scope_suffix

if TYPE_CHECKING:  # defined after the rule models in config.py, which imports this module late
    from shared.rules.config import RulesFile

FieldKind = Literal["text", "html", "media"]
LengthUnit = Literal["characters", "bytes"]
# Feed-side requirement keys carry this prefix, so a checklist shows the attribute and the exported
# column as two items (the attribute can be right while the export truncates it).
FEED_KEY_PREFIX = "feed:"
_COLUMN = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_MARKET = re.compile(r"[A-Za-z0-9_-]{1,20}")


def _column(value: str) -> str:
    if not _COLUMN.fullmatch(value):
        raise ValueError(f"{value!r} is not a feed column name (1-100 of A-Z a-z 0-9 _ . : -)")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    return value


ColumnName = Annotated[str, AfterValidator(_column)]
Regex = Annotated[str, AfterValidator(_regex)]


class FieldCheckConfig(_Model):
    """One thing a channel demands of one field. Every constraint that is set must hold."""

    attribute: Optional[AttributeLabel] = None
    column: Optional[ColumnName] = None
    label: Optional[Name] = None
    kind: FieldKind = "text"
    required: bool = True
    min_length: Optional[int] = Field(None, ge=1, le=1_000_000)
    max_length: Optional[int] = Field(None, ge=1, le=1_000_000)
    length_unit: LengthUnit = "characters"
    allowed: Optional[list[Name]] = None
    pattern: Optional[Regex] = None
    forbidden_words: list[Name] = Field(default_factory=list)
    min_count: Optional[int] = Field(None, ge=1, le=1000)
    min_width: Optional[int] = Field(None, ge=1, le=100_000)
    min_height: Optional[int] = Field(None, ge=1, le=100_000)
    per_market: bool = False
    reason: Optional[Text] = None

    @model_validator(mode="after")
    def _consistent(self) -> "FieldCheckConfig":
        if self.attribute is None and self.column is None:
            raise ValueError("set 'attribute' (the Plytix attribute), 'column' (the feed's column) or both")
        media_only = [k for k in ("min_count", "min_width", "min_height") if getattr(self, k) is not None]
        if media_only and self.kind != "media":
            raise ValueError(f"{', '.join(media_only)} only apply to kind: media")
        text_only = [k for k in ("min_length", "max_length", "allowed", "pattern") if getattr(self, k)]
        if text_only and self.kind == "media":
            raise ValueError(f"{', '.join(text_only)} do not apply to kind: media")
        if self.min_length and self.max_length and self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} is more than max_length {self.max_length}")
        if self.per_market and self.attribute is None:
            raise ValueError("per_market needs 'attribute': markets expand the attribute by locale")
        if self.allowed is not None and not self.allowed:
            raise ValueError("allowed must list at least one value")
        return self

    def name(self) -> str:
        return self.label or self.attribute or str(self.column)


class ChannelSpec(TaskSettings):
    """One channel: its checks, its feed's shape, its markets, and where its tasks go."""

    plytix_channel: Optional[Name] = None  # the channel_name Plytix's webhook sends; default: the key
    sku_column: ColumnName = "sku"
    markets: dict[Name, Locale] = Field(default_factory=dict)  # market -> locale, e.g. DE: de
    forbidden_words: list[Name] = Field(default_factory=list)  # for every text field of the channel
    fields: list[FieldCheckConfig]

    @field_validator("fields")
    @classmethod
    def _fields_not_empty(cls, value: list[FieldCheckConfig]) -> list[FieldCheckConfig]:
        if not value:
            raise ValueError("must list at least one field check")
        return value

    @field_validator("markets")
    @classmethod
    def _market_names(cls, value: dict[str, str]) -> dict[str, str]:
        for market in value:
            if not _MARKET.fullmatch(market):
                raise ValueError(f"{market!r} is not a market code (1-20 of A-Z a-z 0-9 _ -)")
        return value


class ChannelRequirementsRuleConfig(RuleConfigBase):
    """`type: channel_requirements`: per-channel field checks; one task per product and channel."""

    type: Literal["channel_requirements"]
    select: SelectorConfig = Field(default_factory=SelectorConfig)
    channels: dict[ChannelName, ChannelSpec]

    @field_validator("channels")
    @classmethod
    def _channels_not_empty(cls, value: dict[str, ChannelSpec]) -> dict[str, ChannelSpec]:
        if not value:
            raise ValueError("must name at least one channel")
        return value

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        """One scope per channel, with its task settings (channel, rule, defaults)."""
        return [ScopeSpec(f"channel:{name}", ("channels", name), (), (channel, self, defaults))
                for name, channel in self.channels.items()]

    def needed_attributes(self, rules_file: RulesFile) -> set[str]:
        return {check.attribute for channel in self.channels.values()
                for check in expand_checks(channel, rules_file.locale_pattern)
                if check.attribute} | stage_attributes(self, rules_file)

    def attribute_refs(self, rules_file: RulesFile) -> Iterator[tuple[tuple[PathPart, ...], str]]:
        """Each field's attribute (per market expanded) at its own line, for the account check."""
        for name, channel in self.channels.items():
            for index, field in enumerate(channel.fields):
                for check in expand_checks(channel, rules_file.locale_pattern, only=field):
                    if check.attribute:
                        yield ("channels", name, "fields", index, "attribute"), check.attribute
        if self.select.stages is not None:
            yield ("select", "stages"), rules_file.workflow_stage_attribute
        yield from self.write_back_refs(rules_file)

    def problems(self, rules_file: RulesFile) -> Problems:
        yield from task_settings_problems(self.scope_specs(rules_file.defaults), "the channel, the rule",
                                          "the channel, the rule")
        if "scope" not in placeholders(self.title):
            yield ("title",), "must contain {scope}: each channel's task needs its own title"
        seen_feeds: dict[str, str] = {}
        for name, channel in self.channels.items():
            feed_name = (channel.plytix_channel or name).casefold()
            if feed_name in seen_feeds:
                yield ("channels", name, "plytix_channel"), (f"Plytix channel {feed_name!r} is already "
                                                             f"checked by channel {seen_feeds[feed_name]!r}")
            seen_feeds.setdefault(feed_name, name)
            first_seen: dict[str, int] = {}
            for index, field in enumerate(channel.fields):
                if field.per_market and not channel.markets:
                    yield ("channels", name, "fields", index, "per_market"), "the channel lists no markets"
                for check in expand_checks(channel, rules_file.locale_pattern, only=field):
                    for key in check.keys():
                        if key in first_seen:
                            yield (("channels", name, "fields", index),
                                   f"'{key}' is already checked by fields[{first_seen[key]}]")
                        first_seen.setdefault(key, index)
        needed = self.needed_attributes(rules_file)
        if len(needed) > MAX_ATTRIBUTES_PER_RULE:
            yield (), (f"needs {len(needed)} attributes, more than the {MAX_ATTRIBUTES_PER_RULE} one Plytix "
                       f"search may request: split it into several rules ({', '.join(sorted(needed))})")


# ----------------------------------------------------------------------------------------------------
# Checking one value (the same code for an attribute and for a feed cell)

@dataclass(frozen=True)
class FieldCheck:
    """One field check made concrete: a market's locale applied, the channel's forbidden words added."""

    config: FieldCheckConfig
    attribute: Optional[str]  # the Plytix attribute label (locale applied), or None: feed only
    column: Optional[str]  # the feed column, or None: attributes only
    label: str
    forbidden: tuple[str, ...]

    def keys(self) -> list[str]:
        return ([self.attribute] if self.attribute else []) + ([self.feed_key] if self.column else [])

    @property
    def feed_key(self) -> str:
        return f"{FEED_KEY_PREFIX}{self.column}"

    def attribute_requirement(self) -> Requirement:
        return Requirement(key=str(self.attribute), label=self.label, attribute=str(self.attribute),
                           reason=self.config.reason or self.meaning())

    def feed_requirement(self) -> Requirement:
        return Requirement(key=self.feed_key, label=f"{self.label} in the published feed",
                           attribute=str(self.column),
                           reason=(self.config.reason or self.meaning()) + f" (feed column {self.column})")

    def meaning(self) -> str:
        """What this check demands, in words, for the task description."""
        c = self.config
        parts = ["required" if c.required else "optional"]
        if c.kind == "media":
            parts.append(f"at least {c.min_count or 1} image{'s' if (c.min_count or 1) > 1 else ''}")
            if c.min_width or c.min_height:
                parts.append("each " + _size_words(c.min_width, c.min_height) + " where the size is known")
        if c.min_length:
            parts.append(f"at least {c.min_length} {c.length_unit}")
        if c.max_length:
            parts.append(f"at most {c.max_length} {c.length_unit}")
        if c.allowed:
            parts.append("one of " + ", ".join(c.allowed))
        if c.pattern:
            parts.append(f"matching {c.pattern}")
        if self.forbidden:
            parts.append("without " + ", ".join(f'"{w}"' for w in self.forbidden))
        return "; ".join(parts)

    def violation(self, value: Any) -> Optional[str]:
        """None when `value` satisfies the check, else what is wrong ("236 characters, at most 200")."""
        c = self.config
        if c.kind == "media":
            return self._media_violation(value)
        if is_blank(value) or (c.kind == "html" and isinstance(value, str) and not visible_text(value)):
            return "missing" if c.required else None
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            text = _as_text(item, c.kind)
            length = len(text.encode("utf-8")) if c.length_unit == "bytes" else len(text)
            if c.max_length is not None and length > c.max_length:
                return f"{length} {c.length_unit}, at most {c.max_length}"
            if c.min_length is not None and length < c.min_length:
                return f"{length} {c.length_unit}, at least {c.min_length}"
            if c.allowed is not None and text.strip().casefold() not in {a.casefold() for a in c.allowed}:
                return f"{_short(text)!r} is not one of {', '.join(c.allowed)}"
            if c.pattern is not None and not re.fullmatch(c.pattern, text.strip()):
                return f"{_short(text)!r} does not match {c.pattern}"
            word = next((w for w in self.forbidden if _contains_word(text, w)), None)
            if word is not None:
                return f'contains "{word}"'
        return None

    def _media_violation(self, value: Any) -> Optional[str]:
        c = self.config
        items = media_items(value)
        if not items:
            return "no images" if c.required else None
        wanted = c.min_count or 1
        if len(items) < wanted:
            return f"{len(items)} of {wanted} images"
        small = [item for item in items if _too_small(item, c.min_width, c.min_height)]
        if small:
            return (f"{len(small)} image{'s' if len(small) > 1 else ''} not "
                    + _size_words(c.min_width, c.min_height))
        return None


def expand_checks(channel: ChannelSpec, locale_pattern: str,
                  only: Optional[FieldCheckConfig] = None) -> list[FieldCheck]:
    """The channel's checks made concrete: `per_market` fields once per market (name -> name_de for DE).
    A per-market field checks its column (if any) once, on the one feed the channel exports."""
    checks: list[FieldCheck] = []
    for config in channel.fields if only is None else [only]:
        forbidden = tuple(dict.fromkeys([*channel.forbidden_words, *config.forbidden_words])) \
            if config.kind != "media" else ()
        if config.per_market and config.attribute:
            for market, locale in channel.markets.items():
                attribute = locale_pattern.format(attribute=config.attribute, locale=locale)
                checks.append(FieldCheck(config, attribute, None, f"{config.name()} ({market})", forbidden))
            if config.column:
                checks.append(FieldCheck(config, None, config.column, config.name(), forbidden))
        else:
            checks.append(FieldCheck(config, config.attribute, config.column, config.name(), forbidden))
    return checks


def media_items(value: Any) -> list[Any]:
    """Images in a value: a gallery (list), one asset (dict), or a feed cell of URLs separated by commas
    (Google's additional_image_link takes a comma-separated list in text feeds)."""
    if isinstance(value, (list, tuple)):
        return [item for item in value if not is_blank(item)]
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    return [] if is_blank(value) else [value]


def _too_small(item: Any, min_width: Optional[int], min_height: Optional[int]) -> bool:
    """Only an asset that states its size can be too small: unknown dimensions are not a finding."""
    if not isinstance(item, Mapping):
        return False
    width, height = _int(item.get("width")), _int(item.get("height"))
    return ((min_width is not None and width is not None and width < min_width)
            or (min_height is not None and height is not None and height < min_height))


def _size_words(min_width: Optional[int], min_height: Optional[int]) -> str:
    wanted = [f"{n} px {side}" for n, side in ((min_width, "wide"), (min_height, "high")) if n]
    return "at least " + " and ".join(wanted)


def _int(value: Any) -> Optional[int]:
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _as_text(value: Any, kind: FieldKind) -> str:
    text = value if isinstance(value, str) else str(value)
    return visible_text(text) if kind == "html" else text


def _contains_word(text: str, word: str) -> bool:
    """Case-insensitive, on word boundaries ("free shipping" in "FREE Shipping today", not "freestyle")."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ----------------------------------------------------------------------------------------------------
# The rule

# (channel, product id) -> {feed requirement key: what the feed check saw}
FeedProblems = Callable[[str, str], Mapping[str, str]]


def _no_feed_problems(channel: str, product_id: str) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class _Channel:
    name: str
    spec: ChannelSpec
    scope: ScopeSpec
    checks: tuple[FieldCheck, ...]


class ChannelRequirementsRule(RuleIdentity):
    """Evaluates one `channel_requirements` rule: per channel, the product's attributes and the last feed
    check's problems become one finding (one task) for the channel's owner."""

    def __init__(self, config: ChannelRequirementsRuleConfig, rules_file: RulesFile) -> None:
        super().__init__(config)
        self.config = config
        self._needed = frozenset(config.needed_attributes(rules_file))
        self.channels: tuple[_Channel, ...] = tuple(
            _Channel(name, spec, scope, tuple(expand_checks(spec, rules_file.locale_pattern)))
            for (name, spec), scope in zip(config.channels.items(), config.scope_specs(rules_file.defaults), strict=False))
        self.feed_problems: FeedProblems = _no_feed_problems

    def selects(self, view: ProductView) -> bool:
        return self.config.select.matches(view)

    def needed_attributes(self) -> set[str]:
        return set(self._needed)

    def scopes(self) -> list[str]:
        return [channel.scope.scope for channel in self.channels]

    def attach_stores(self, stores: Any) -> None:
        """Before a pass: load what the last feed checks found (shared/store/channel_feed.py). Its size is
        the number of failing feed rows, not the catalog's."""
        found = {(channel.name, row.product_id): row.problems for channel in self.channels
                 if any(check.column for check in channel.checks)
                 for row in stores.channel_feed.list(self.id, channel.name)}
        self.feed_problems = lambda channel, product_id: found.get((channel, product_id), {})

    def channel_for_feed(self, plytix_channel: str) -> Optional[str]:
        """The channel key whose Plytix channel name is `plytix_channel` (names compare without case)."""
        wanted = plytix_channel.strip().casefold()
        return next((c.name for c in self.channels if (c.spec.plytix_channel or c.name).casefold() == wanted), None)

    def channel(self, name: str) -> _Channel:
        return next(c for c in self.channels if c.name == name)

    def evaluate(self, view: ProductView, environment: str) -> list[Finding]:
        """One finding per channel with something wrong; none for a clean or unselected product."""
        if not self.selects(view):
            return []
        findings = (self._evaluate_channel(view, environment, channel) for channel in self.channels)
        return [finding for finding in findings if finding is not None]

    def _evaluate_channel(self, view: ProductView, environment: str, channel: _Channel) -> Optional[Finding]:
        missing: list[Requirement] = []
        satisfied: list[Requirement] = []
        seen: dict[str, str] = {}
        from_feed = self.feed_problems(channel.name, view.id)
        for check in channel.checks:
            if check.attribute:
                requirement = check.attribute_requirement()
                problem = check.violation(view.attributes.get(check.attribute))
                (missing if problem else satisfied).append(requirement)
                if problem:
                    seen[requirement.key] = problem
            if check.column:
                requirement = check.feed_requirement()
                problem = from_feed.get(requirement.key)
                (missing if problem else satisfied).append(requirement)
                if problem:
                    seen[requirement.key] = problem
        if not missing:
            return None
        title = render_title(self.config.title, {
            "sku": view.sku, "label": view.label, "product_id": view.id, "rule_id": self.id,
            "rule_name": self.name, "scope": scope_suffix(channel.scope.scope), "family": view.family or ""})
        return Finding(
            rule_id=self.id, fingerprint=fingerprint(environment, self.id, view.id, channel.scope.scope),
            subject=view.id, scope=channel.scope.scope, title=title, missing=tuple(missing),
            satisfied=tuple(satisfied), owner_upn=channel.scope.owner_for(view),
            plan_id=channel.scope.setting("plan_id"), bucket=channel.scope.setting("bucket"),
            priority=channel.scope.priority, due_in_days=channel.scope.setting("due_in_days"),
            description=self._description(view, channel.name, missing, seen),
            product=ProductRef(id=view.id, sku=view.sku, label=view.label, family=view.family),
            group_key=f"{self.id}:{channel.name}:{view.family or ''}")

    def _description(self, view: ProductView, channel: str, missing: list[Requirement],
                     seen: dict[str, str]) -> str:
        product = view.sku + (f' "{view.label}"' if view.label else "")
        return (f"Rule \"{self.name}\": product {product} does not meet {len(missing)} requirement"
                f"{'s' if len(missing) > 1 else ''} of channel {channel}.\n"
                f"{missing_summary(missing, seen)}\n"
                "This task closes by itself once the product, and the channel's next published feed, "
                "meet them.")


def feed_channels(rules: Iterable[Any], plytix_channel: str) -> list[tuple[ChannelRequirementsRule, str]]:
    """Every (rule, channel key) that checks the Plytix channel named `plytix_channel`."""
    return [(rule, name) for rule in rules if isinstance(rule, ChannelRequirementsRule)
            for name in [rule.channel_for_feed(plytix_channel)] if name is not None]
