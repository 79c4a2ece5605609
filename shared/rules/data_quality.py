"""The `data_quality` rule (job 6): duplicates, invalid GTINs, mandatory fields and taxonomy, as one task
per exception group for the data steward.

Why its findings are not per product: a duplicate is a relation between products that may be read on
different pages or in different passes, and a bad import can break thousands of products the same way.
So the rule works in two steps:
1. per product (`evaluate`, called by the feed for every product read): work out the product's duplicate
   keys and failed checks and record them in the `quality` table (shared/store/quality.py). This writes
   only when something changed and returns no findings;
2. once per pass (`pass_findings`): read the groups back from that table, never from memory, and turn
   each into one finding: one per duplicate group listing every product in it, one per failed check
   listing the products that fail it. Every pass emits every current group, so a group that is gone
   (a member fixed, on any page, in any pass) has no finding and the reconciler closes its task.
Storm control: at most `storm.max_group_tasks` duplicate groups have a task of their own at a time, and at
most `storm.max_new_per_run` of them are created per pass; the rest are listed on one digest task. Checks
are grouped by nature (one task per check, listing up to 100 products and the count), so an import that
breaks 5,000 GTINs makes one task, not 5,000. The app's MAX_TASKS_PER_RUN still caps every creation.

Duplicate keys (SKUs and GTINs are unique in Plytix, and SKUs are case-sensitive, API_FACTS.md, so a
"duplicate SKU" is one that differs only in case, whitespace or punctuation):
- sku: Unicode NFKC, case-folded, everything but letters and digits removed ("AB-12 x" = "ab12X");
- gtin: digits, zero-padded to 14 (GTIN-8/12/13/14 name the same item when padded: GS1 General
  Specifications, section 3.3.2 "GTIN-14 format", https://www.gs1.org/standards/barcodes-epcrfid-id-keys/gs1-general-specifications);
- any configured attribute (an MPN, a supplier code): normalised like a SKU;
- label within a family: case-folded, whitespace collapsed, keyed by family id.
GTIN check digit: GS1 mod-10, see `gtin_check_digit_ok`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Optional

from pydantic import Field, model_validator

from shared.rules.config import (
    AttributeLabel,
    CategoryPath,
    GroupRule,
    Problems,
    RuleConfigBase,
    ScopeSpec,
    SelectorConfig,
    TaskSettings,
    _Model,
    attribute_limit_problems,
    members_left,
    stage_attributes,
    task_settings_problems,
)
from shared.rules.errors import PathPart
from shared.rules.findings import Finding, ProductRef, fingerprint
from shared.rules.presence import is_blank
from shared.rules.product_view import ProductView
from shared.rules.templates import DEFAULT_TITLE
from shared.store.links import Link, LinkState
from shared.store.quality import MAX_STORED_MEMBERS, IndexedProduct, Member, QualityIndex, key_hash

if TYPE_CHECKING:  # config.py imports this module at its end (the rule-type registry)
    from shared.reconcile.plan import Desired
    from shared.rules.config import RulesFile

# Products listed on a task's description; the task says how many more there are.
LISTED_MEMBERS = MAX_STORED_MEMBERS
# Products that left a group stay on its checklist, ticked, up to this many.
MAX_LEFT_KEPT = 50
SUBJECT_PREFIX = "dq:"
_NOT_WORD = re.compile(r"[\W_]+")
_ACTIVE = {LinkState.pending, LinkState.open, LinkState.completed}


# ----------------------------------------------------------------------------------------------------
# Config

class DuplicateChecks(_Model):
    """Which keys must be unique across the catalog (`attributes`: e.g. mpn, supplier_code)."""

    sku: bool = True
    gtin: bool = True
    label_in_family: bool = False
    attributes: list[AttributeLabel] = Field(default_factory=list)


class TaxonomyChecks(_Model):
    """Category rules; a category path is written "Home/Kitchen"."""

    require_category: bool = True
    allowed: Optional[list[CategoryPath]] = None  # every category must lie in one of these subtrees
    min_depth: Optional[int] = Field(None, ge=1, le=20)
    max_depth: Optional[int] = Field(None, ge=1, le=20)
    variant_matches_parent: bool = False  # a variant's family and categories are its parent's

    @model_validator(mode="after")
    def _depths(self) -> "TaxonomyChecks":
        if self.min_depth and self.max_depth and self.min_depth > self.max_depth:
            raise ValueError(f"min_depth {self.min_depth} is more than max_depth {self.max_depth}")
        if self.allowed is not None and not self.allowed:
            raise ValueError("allowed must list at least one category path")
        return self


class StormControl(_Model):
    """How many duplicate groups get a task of their own; the rest share one digest task."""

    max_group_tasks: int = Field(50, ge=1, le=2000)
    max_new_per_run: int = Field(20, ge=1, le=2000)


class DataQualityRuleConfig(RuleConfigBase):
    """`type: data_quality`: catalog-wide exceptions, one task per exception group for the data steward."""

    type: Literal["data_quality"]
    select: SelectorConfig = Field(default_factory=SelectorConfig)
    duplicates: DuplicateChecks = Field(default_factory=DuplicateChecks)
    gtin_check_digit: bool = True
    mandatory: list[AttributeLabel] = Field(default_factory=list)
    taxonomy: Optional[TaxonomyChecks] = None
    storm: StormControl = Field(default_factory=StormControl)

    def scope_specs(self, defaults: TaskSettings) -> list[ScopeSpec]:
        """One scope: every exception group's task goes to the same place (the rules file's plan listing
        and health read every rule's scopes)."""
        return [ScopeSpec("", (), (), (self, defaults))]

    def needed_attributes(self, rules_file: "RulesFile") -> set[str]:
        return set(self.mandatory) | set(self.duplicates.attributes) | stage_attributes(self, rules_file)

    def attribute_refs(self, rules_file: "RulesFile") -> Iterator[tuple[tuple[PathPart, ...], str]]:
        for index, label in enumerate(self.mandatory):
            yield ("mandatory", index), label
        for index, label in enumerate(self.duplicates.attributes):
            yield ("duplicates", "attributes", index), label
        if self.select.stages is not None:
            yield ("select", "stages"), rules_file.workflow_stage_attribute
        yield from self.write_back_refs(rules_file)

    def problems(self, rules_file: "RulesFile") -> Problems:
        yield from task_settings_problems(self.scope_specs(rules_file.defaults), "the rule", "the rule")
        if self.title != DEFAULT_TITLE:
            yield ("title",), "a data_quality task is titled by its exception group: remove 'title'"
        if self.owners is not None and (self.owners.by_family or self.owners.by_category):
            yield ("owners",), ("a data_quality task is about a group of products: set owner (the data "
                                "steward), not owners by family or category")
        for index, label in enumerate(self.mandatory):
            if label in self.mandatory[:index]:
                yield ("mandatory", index), f"'{label}' is listed twice"
        yield from attribute_limit_problems(self.needed_attributes(rules_file))


# ----------------------------------------------------------------------------------------------------
# Checks on one product

def normalise_code(value: str) -> str:
    """SKUs, MPNs, supplier codes: NFKC, case-folded, only letters and digits kept."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", value).casefold())


def normalise_gtin(value: str) -> str:
    """A GTIN as 14 digits ("" when it is not 8-14 digits): padded GTINs of any length compare equal."""
    digits = value.strip().replace(" ", "")
    return digits.zfill(14) if digits.isdigit() and 8 <= len(digits) <= 14 else ""


def gtin_check_digit_ok(value: str) -> bool:
    """GS1 mod-10: from the rightmost digit before the check digit, weights 3, 1, 3, 1...; the check digit
    brings the weighted sum up to a multiple of 10. Only GTIN-8, -12, -13 and -14 lengths exist (GS1 General
    Specifications, section 7.9.1 "Standard check digit calculations for GS1 data structures";
    https://www.gs1.org/services/how-calculate-check-digit-manually)."""
    digits = value.strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        return False
    return expected_check_digit(digits[:-1]) == int(digits[-1])


def expected_check_digit(body: str) -> int:
    """The GS1 check digit for the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _path(parts: tuple[str, ...]) -> str:
    return "/".join(parts)


# ----------------------------------------------------------------------------------------------------
# Findings about groups

@dataclass(frozen=True)
class GroupFinding(Finding):
    """A finding whose subject is an exception group (a duplicate key, a check, the digest)."""

    members: tuple[Member, ...] = ()
    count: int = 0
    headline: str = ""


class DataQualityRule(GroupRule):
    """Evaluates one `data_quality` rule (see the module docstring for the two steps)."""

    def __init__(self, config: DataQualityRuleConfig, rules_file: "RulesFile") -> None:
        super().__init__(config, config.needed_attributes(rules_file))
        self.config = config
        (self._spec,) = config.scope_specs(rules_file.defaults)
        self.index: Optional[QualityIndex] = None
        self._linked: set[str] = set()

    # ---- the Rule protocol --------------------------------------------------------------------------

    def system_fields(self) -> tuple[str, ...]:
        """System fields a search must request besides the views' (gtin is listed by the account's
        filters, API_FACTS.md; `_parent_id` comes with every variant hit)."""
        return ("gtin",) if self.config.duplicates.gtin or self.config.gtin_check_digit else ()

    def scopes(self) -> list[str]:
        return [""]

    def needs_family(self, view: ProductView) -> bool:
        """Search does not return the family (API_FACTS.md): the feed reads it by GET (cached by
        `modified`) for the products whose checks compare it."""
        taxonomy = self.config.taxonomy
        variant_check = taxonomy is not None and taxonomy.variant_matches_parent and view.level in (
            "parent", "variant", "sub_variant")
        return bool(self.config.duplicates.label_in_family and view.label) or variant_check

    def attach_stores(self, stores: Any) -> None:
        """Before a pass: the index, and which groups have a task (they keep it ahead of new groups)."""
        self.index = stores.quality
        self._linked = {link.fingerprint for link in stores.links.list_rule(self.id) if link.state in _ACTIVE}

    def evaluate(self, view: ProductView, environment: str) -> list[Finding]:
        """Record the product's keys and failed checks in the index (step 1); findings come at the end of
        the pass. A product whose family is needed but not known yet is skipped: the feed reads its
        family and calls again."""
        if self.index is None or (self.needs_family(view) and not view.family_known):
            return []
        now = self.indexed(view)
        before = self.index.get(self.id, view.id)
        if before != now:
            self.index.record(self.id, now, before)
        return []

    def indexed(self, view: ProductView) -> IndexedProduct:
        """What the index should hold about the product now."""
        categories = tuple(sorted(_path(p) for p in view.category_paths))
        base = IndexedProduct(product_id=view.id, sku=view.sku, label=view.label, family_id=view.family_id or "",
                              categories=categories)
        if not self.config.select.matches(view):
            return base
        return IndexedProduct(product_id=view.id, sku=view.sku, label=view.label, keys=self._keys(view),
                              exceptions=self._exceptions(view), family_id=base.family_id, categories=categories)

    def _keys(self, view: ProductView) -> dict[str, tuple[str, str, str]]:
        """kind -> (key hash, normalised value, the product's value); the family id stays out of the
        shown label so titles read well (it is in the hashed key)."""
        dup = self.config.duplicates
        keys: dict[str, tuple[str, str, str]] = {}
        candidates: list[tuple[str, str, str]] = []  # kind, normalised, shown
        if dup.sku:
            candidates.append(("sku", normalise_code(view.sku), view.sku))
        if dup.gtin:
            candidates.append(("gtin", normalise_gtin(view.gtin), view.gtin))
        for label in dup.attributes:
            value = view.attributes.get(label)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and not is_blank(value):
                candidates.append((f"attr.{label}", normalise_code(str(value)), str(value)))
        if dup.label_in_family and view.family_id and view.label.strip():
            candidates.append(("label", " ".join(view.label.casefold().split()), view.label))
        for kind, normalised, shown in candidates:
            if normalised:
                scoped = f"{view.family_id}\n{normalised}" if kind == "label" else normalised
                keys[kind] = (key_hash(scoped), normalised[:200], shown[:200])
        return keys

    def _exceptions(self, view: ProductView) -> dict[str, str]:
        found: dict[str, str] = {}
        gtin = view.gtin.strip()
        if self.config.gtin_check_digit and gtin and not gtin_check_digit_ok(gtin):
            found["gtin_check_digit"] = (f"GTIN {gtin[:40]}: check digit should be {expected_check_digit(gtin[:-1])}"
                                         if gtin.isdigit() and len(gtin) in (8, 12, 13, 14)
                                         else f"GTIN {gtin[:40]!r} is not 8, 12, 13 or 14 digits")
        for label in self.config.mandatory:
            if is_blank(view.attributes.get(label)):
                found[f"mandatory.{label}"] = "empty"
        taxonomy = self.config.taxonomy
        if taxonomy is not None:
            found.update(self._taxonomy(view, taxonomy))
        return found

    def _taxonomy(self, view: ProductView, taxonomy: TaxonomyChecks) -> dict[str, str]:
        found: dict[str, str] = {}
        paths = view.category_paths
        if taxonomy.require_category and not paths:
            found["no_category"] = "no category"
        if taxonomy.allowed is not None:
            allowed = [tuple(p.split("/")) for p in taxonomy.allowed]
            outside = [_path(p) for p in paths if not any(p[:len(a)] == a for a in allowed)]
            if outside:
                found["category_outside"] = ", ".join(outside)[:500]
        wrong_depth = [_path(p) for p in paths
                       if (taxonomy.min_depth and len(p) < taxonomy.min_depth)
                       or (taxonomy.max_depth and len(p) > taxonomy.max_depth)]
        if wrong_depth:
            found["category_depth"] = ", ".join(wrong_depth)[:500]
        if taxonomy.variant_matches_parent and view.parent_id and self.index is not None:
            parent = self.index.get(self.id, view.parent_id)
            differs = _differs_from_parent(view, parent) if parent is not None else ""
            if differs:
                found["variant_parent"] = differs
        return found

    # ---- step 2: findings from the index ------------------------------------------------------------

    def pass_findings(self, environment: str, product_url: Callable[[str], str]) -> list[Finding]:
        """Every current exception group as one finding; duplicate groups beyond the storm limits on one
        digest. Reads the index a partition at a time: memory is the findings, not the catalog."""
        if self.index is None:
            return []
        findings: list[Finding] = []
        storm = self.config.storm
        linked_groups = sum(1 for group in self.index.groups(self.id)
                            if self._fingerprint(environment, f"dup:{group.kind}:{group.key}") in self._linked)
        slots_for_new = min(storm.max_new_per_run, max(0, storm.max_group_tasks - linked_groups))
        kept = new = 0
        overflow: list[str] = []
        overflow_count = 0
        for group in self.index.groups(self.id):
            subject = f"dup:{group.kind}:{group.key}"
            is_linked = self._fingerprint(environment, subject) in self._linked
            if (is_linked and kept < storm.max_group_tasks) or (not is_linked and new < slots_for_new):
                kept += 1
                new += 0 if is_linked else 1
                what = _kind_words(group.kind)
                findings.append(self._finding(
                    environment, subject, f"duplicate {what} {group.value}"[:200], group.members, group.count,
                    f"{group.count} products share the {what} {group.value!r} (compared {_compared(group.kind)}).",
                    product_url))
            else:
                overflow_count += 1
                if len(overflow) < LISTED_MEMBERS:
                    skus = ", ".join(m.sku for m in group.members[:5])
                    overflow.append(f"- {_kind_words(group.kind)} {group.value!r}: {group.count} products ({skus})")
        if overflow_count:
            findings.append(self._digest(environment, overflow, overflow_count))
        for check in self._checks():
            count, members = self.index.failing(self.id, check, LISTED_MEMBERS)
            if count:
                words = _check_words(check)
                findings.append(self._finding(environment, f"check:{check}", words, tuple(members), count,
                                              f"{count} product{'s' if count > 1 else ''}: {words}.", product_url))
        return findings

    def _checks(self) -> list[str]:
        checks = ["gtin_check_digit"] if self.config.gtin_check_digit else []
        checks += [f"mandatory.{label}" for label in self.config.mandatory]
        taxonomy = self.config.taxonomy
        if taxonomy is not None:
            checks += (["no_category"] if taxonomy.require_category else []) + (
                ["category_outside"] if taxonomy.allowed is not None else []) + (
                ["category_depth"] if taxonomy.min_depth or taxonomy.max_depth else []) + (
                ["variant_parent"] if taxonomy.variant_matches_parent else [])
        return checks

    def _fingerprint(self, environment: str, subject: str) -> str:
        return fingerprint(environment, self.id, SUBJECT_PREFIX + subject)

    def _finding(self, environment: str, subject: str, headline: str, members: tuple[Member, ...], count: int,
                 summary: str, product_url: Callable[[str], str]) -> GroupFinding:
        lines = [f"- {m.sku}" + (f' "{m.label}"' if m.label else "") + (f" ({m.detail})" if m.detail else "")
                 + f": {product_url(m.product_id)}" for m in members[:LISTED_MEMBERS]]
        if count > len(lines):
            lines.append(f"...and {count - len(lines)} more")
        description = "\n".join([f"Rule \"{self.name}\": {summary}", "", *lines, "",
                                 "This task is updated as products join or leave, and closes by itself once "
                                 "the exception is gone in Plytix."])
        return self._group_finding(environment, subject, headline, members, count, description)

    def _digest(self, environment: str, overflow: list[str], count: int) -> GroupFinding:
        description = "\n".join([
            f"Rule \"{self.name}\": {count} more duplicate groups than the storm limits give tasks of their own "
            f"(storm.max_group_tasks {self.config.storm.max_group_tasks}, storm.max_new_per_run "
            f"{self.config.storm.max_new_per_run}), probably one bad import. They are listed here; groups get "
            "tasks of their own as others are fixed.", "", *overflow,
            *([f"...and {count - len(overflow)} more"] if count > len(overflow) else [])])
        return self._group_finding(environment, "digest:duplicates", "duplicate groups beyond the storm limits",
                                   (), count, description)

    def _group_finding(self, environment: str, subject: str, headline: str, members: tuple[Member, ...],
                       count: int, description: str) -> GroupFinding:
        fp = self._fingerprint(environment, subject)
        return GroupFinding(
            rule_id=self.id, fingerprint=fp, subject=SUBJECT_PREFIX + subject, scope="",
            title=f"{self.name}: {headline}"[:255], missing=(), satisfied=(),
            owner_upn=self._spec.fallback_owner() or "", plan_id=self._spec.setting("plan_id"),
            bucket=self._spec.setting("bucket"), priority=self._spec.priority,
            due_in_days=self._spec.setting("due_in_days"), description=description,
            product=ProductRef(id="", sku="", label=headline, family=None),
            group_key=fp,  # never merged into a reconciler group: each exception group is its own task
            members=members, count=count, headline=headline)

    def desired_for(self, finding: Finding, link: Optional[Link]) -> Desired:
        """The task of one exception group: every listed product on the checklist; products that left
        since the last pass stay on it, ticked, with a note in the description."""
        from shared.reconcile.content import checklist_for, marker_line  # the reconciler imports the rules package
        from shared.reconcile.plan import Desired
        members = finding.members if isinstance(finding, GroupFinding) else ()
        current = {m.product_id: m.sku for m in members}
        left = members_left(link, current, MAX_LEFT_KEPT)
        items = [(pid, sku or pid) for pid, sku in current.items()] + [
            (pid, f"{sku or pid} (no longer in this group)") for pid, sku in left.items()]
        description = finding.description
        if left:
            description += "\n\nNo longer in this group (ticked): " + ", ".join(left.values())
        return Desired(
            rule_id=finding.rule_id, fingerprint=finding.fingerprint, scope="", title=finding.title,
            description=f"{description}\n{marker_line(finding.fingerprint)}",
            checklist=checklist_for(finding.fingerprint, items, done=left),
            owner_upn=finding.owner_upn, plan_id=finding.plan_id, bucket=finding.bucket,
            priority=finding.priority, due_in_days=finding.due_in_days, product_id=None,
            data={"kind": "data_quality", "subject": finding.subject, "products": current, "left": left,
                  "count": getattr(finding, "count", 0),
                  "missing_labels": [getattr(finding, "headline", finding.title)]})


def _differs_from_parent(view: ProductView, parent: IndexedProduct) -> str:
    """What a variant does not share with its parent ("" when nothing)."""
    problems = []
    if view.family_id and parent.family_id and view.family_id != parent.family_id:
        problems.append(f"family {view.family or view.family_id} differs from its parent {parent.sku}'s")
    own = tuple(sorted(_path(p) for p in view.category_paths))
    if own != parent.categories:
        problems.append(f"categories {', '.join(own) or 'none'} differ from its parent {parent.sku}'s "
                        f"({', '.join(parent.categories) or 'none'})")
    return "; ".join(problems)


def _kind_words(kind: str) -> str:
    if kind.startswith("attr."):
        return kind.partition(".")[2]
    return {"sku": "SKU", "gtin": "GTIN", "label": "label in family"}.get(kind, kind)


def _compared(kind: str) -> str:
    if kind == "gtin":
        return "as 14 digits"
    if kind == "label":
        return "within the family, ignoring case and spacing"
    return "ignoring case, whitespace and punctuation"


def _check_words(check: str) -> str:
    if check.startswith("mandatory."):
        return f"mandatory field {check.partition('.')[2]} is empty"
    return {"gtin_check_digit": "invalid GTIN (GS1 check digit)", "no_category": "no category",
            "category_outside": "category outside the allowed subtrees",
            "category_depth": "category at the wrong depth",
            "variant_parent": "variant's family or categories differ from its parent's"}.get(check, check)
