"""Turn one rule's findings into desired tasks, grouping storms into one task per rule and family.

Why here and not in the rule: grouping depends on what is already linked (an open group absorbs new
findings of its family; a product that already has its own task keeps it), which is reconciler state.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable, Mapping, cast

from shared.reconcile.content import (
    EVENT_GROUP_CLOSING,
    GROUP_CLOSING,
    GroupMember,
    group_checklist,
    group_description,
    group_title,
    product_checklist,
    product_description,
)
from shared.reconcile.plan import Desired
from shared.rules.findings import Finding, fingerprint
from shared.store.links import Link, LinkState

# A group task stores its members on the link row (a Table string property holds 64 KiB).
MAX_GROUP_MEMBERS = 400
# A threshold no count reaches: every finding its own desired task.
NO_GROUPING = 10**9
# Fixed members stay on the checklist, ticked, so people see progress; the oldest drop off beyond this.
MAX_FIXED_KEPT = 200
_ACTIVE_GROUP_STATES = {LinkState.pending, LinkState.open, LinkState.completed, LinkState.deleted}


def product_desired(finding: Finding, link: Link | None) -> Desired:
    """The task for one product finding. Requirements that were on the checklist before and are now
    present stay on it, ticked, so people see progress."""
    tracked = list((link.data.get("tracked") if link else None) or [])
    missing_keys = [r.key for r in finding.missing]
    tracked = list(dict.fromkeys(tracked + missing_keys))
    return Desired(
        rule_id=finding.rule_id, fingerprint=finding.fingerprint, scope=finding.scope,
        title=finding.title, description=product_description(finding),
        checklist=product_checklist(finding, previously_missing=tracked),
        owner_upn=finding.owner_upn, plan_id=finding.plan_id, bucket=finding.bucket, priority=finding.priority,
        due_in_days=finding.due_in_days, product_id=finding.subject,
        data={"kind": "product", "sku": finding.product.sku, "missing": missing_keys,
              "missing_labels": [r.label for r in finding.missing], "tracked": tracked,
              # the stage the product was in when the task was first created (the write-back's guard)
              "stage": (link.data.get("stage") if link else None) or finding.product.stage})


SingleDesired = Callable[[Finding, "Link | None"], Desired]


def build_desired(*, rule_id: str, rule_name: str, environment: str, findings: Iterable[Finding],
                  links: Mapping[str, Link], group_threshold: int,
                  evaluated: Callable[[str], bool] = lambda product_id: True,
                  single: SingleDesired = product_desired) -> dict[str, Desired]:
    """Desired tasks by fingerprint for one rule.

    - a finding whose product already has its own link (any state) stays an individual task, and leaves
      any group it was in (two passes racing can put it in both: this repairs it);
    - a finding that belongs to an active group (by group key) joins it;
    - other new findings: above `group_threshold` for one group key, one grouped task; else one each;
      findings that no longer fit in a full group get tasks of their own.
    Group members this pass read and found fine count as fixed (ticked); members it did not read (an
    incremental pass) stay as stored. A group with no member left is not desired, so it gets closed.
    `single` builds one finding's own task (event rules bring their own content)."""
    by_fp = {f.fingerprint: f for f in findings}
    own = {fp for fp, link in links.items() if link.data.get("kind") != "group"}
    desired: dict[str, Desired] = {}
    groups = {cast(str, link.data.get("group_key")): link for link in links.values()
              if link.data.get("kind") == "group" and link.state in _ACTIVE_GROUP_STATES}
    grouped_fps = {fp for link in groups.values() for fp in (link.data.get("members") or {})} - own

    new_by_key: dict[str, list[Finding]] = defaultdict(list)
    for fp, finding in by_fp.items():
        if fp in own:
            desired[fp] = single(finding, links[fp])
        elif fp not in grouped_fps:
            new_by_key[finding.group_key].append(finding)

    for key in set(new_by_key) | set(groups):
        new_findings = new_by_key.get(key, [])
        if key not in groups and len(new_findings) <= group_threshold:
            overflow = new_findings
        else:
            group, overflow = _group_desired(rule_id, rule_name, environment, key, new_findings, groups.get(key),
                                             by_fp, evaluated, own)
            if group is not None:
                desired[group.fingerprint] = group
        for finding in overflow:
            desired[finding.fingerprint] = single(finding, None)
    return desired


def digest_desired(*, rule_id: str, rule_name: str, environment: str, findings: Iterable[Finding],
                   evaluated: Callable[[str], bool]) -> tuple[list[Desired], list[Finding]]:
    """Grouped tasks for new findings that did not fit in their plan as tasks of their own (see
    capacity.py): one per group key (rule and family), as GROUP_THRESHOLD's groups are, so later passes
    treat them alike. Returns the groups and the findings beyond a group's MAX_GROUP_MEMBERS."""
    by_key: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_key[finding.group_key].append(finding)
    by_fp = {f.fingerprint: f for found in by_key.values() for f in found}
    groups: list[Desired] = []
    left: list[Finding] = []
    for key, new in by_key.items():
        group, overflow = _group_desired(rule_id, rule_name, environment, key, new, None, by_fp, evaluated, set())
        if group is not None:
            groups.append(group)
        left += overflow
    return groups, left


def _group_desired(rule_id: str, rule_name: str, environment: str, key: str, new_findings: list[Finding],
                   link: Link | None, by_fp: Mapping[str, Finding], evaluated: Callable[[str], bool],
                   own: set[str]) -> tuple[Desired | None, list[Finding]]:
    """The group task for one key, and the new findings that did not fit in it."""
    stored = (link.data.get("members") if link else None) or {}
    fixed_stored = (link.data.get("fixed") if link else None) or {}
    # Event groups: members the rule let go (a launch left backwards), with the rule's note, kept on the task.
    left: dict[str, dict[str, str]] = dict((link.data.get("left") if link else None) or {})
    members: dict[str, GroupMember] = {}
    product_ids: dict[str, str] = {}
    fixed: dict[str, GroupMember] = {fp: GroupMember(fp, sku, ()) for fp, sku in fixed_stored.items()}
    leaving: list[Finding] = []
    for fp, info in stored.items():
        if fp in own:
            continue
        finding = by_fp.get(fp)
        if finding is not None and finding.event.get("close_note"):
            leaving.append(finding)
            left[fp] = {"sku": info.get("sku", ""), "note": str(finding.event["close_note"])}
            fixed[fp] = GroupMember(fp, info.get("sku", ""), ())
        elif finding is not None:
            members[fp] = _member(finding)
        elif evaluated(info.get("product_id", "")):
            fixed[fp] = GroupMember(fp, info.get("sku", ""), ())
        else:  # not read this pass: as it was
            members[fp] = GroupMember(fp, info.get("sku", ""), tuple(info.get("missing") or ()))
        product_ids[fp] = info.get("product_id", "")
    new_findings = [f for f in new_findings if f.fingerprint not in left]  # that occurrence was handled
    room = max(0, MAX_GROUP_MEMBERS - len(members))
    for finding in new_findings[:room]:
        members[finding.fingerprint] = _member(finding)
        product_ids[finding.fingerprint] = finding.subject
    overflow = new_findings[room:]
    for fp in members:
        fixed.pop(fp, None)  # broken again: not ticked
    fixed = dict(list(fixed.items())[-MAX_FIXED_KEPT:])
    sample = next((by_fp[fp] for fp in members if fp in by_fp), leaving[0] if leaving else None)
    if (not members and not leaving) or sample is None:  # none left, or none read this pass (not covered)
        return None, overflow
    family = sample.product.family or "unknown family"
    fp = link.fingerprint if link else fingerprint(environment, rule_id, f"group:{key}")
    # An event rule's groups are per task of a set or per watched attribute: the title names which.
    name = f"{rule_name} [{sample.missing[0].label}]" if sample.event and sample.missing else rule_name
    closing = EVENT_GROUP_CLOSING if sample.event else GROUP_CLOSING
    return Desired(
        rule_id=rule_id, fingerprint=fp, scope="",
        title=group_title(name, family)[:255],
        description=group_description(name, family, members, fp, closing,
                                      left={entry["sku"]: entry["note"] for entry in left.values()}),
        checklist=group_checklist(fp, members, fixed.values()), owner_upn=sample.owner_upn,
        plan_id=sample.plan_id, bucket=sample.bucket, priority=sample.priority, due_in_days=sample.due_in_days,
        product_id=None,
        data={"kind": "group", "group_key": key, "family": family,
              "members": {m.fingerprint: {"sku": m.sku, "product_id": product_ids[m.fingerprint],
                                          "missing": list(m.missing)} for m in members.values()},
              "fixed": {m.fingerprint: m.sku for m in fixed.values()},
              **({"left": left} if left else {}),
              # every member let go: the rule closes the grouped task with the last one's note
              **({"close_note": f"every product of this group was let go: {leaving[-1].event['close_note']}"}
                 if leaving and not members else {}),
              "missing_labels": sorted({label for m in members.values() for label in m.missing})}), overflow


def _member(finding: Finding) -> GroupMember:
    return GroupMember(finding.fingerprint, finding.product.sku, tuple(r.label for r in finding.missing))
