"""Event findings meet stored links: a further change joins the task that is still open for it.

Why: an event rule's fingerprint carries the change's version, so a second change of the same product and
scope (a review's attribute, a launch set's task) has a new fingerprint. While the task for the first one
is open (or being created), the second must update that task, not open another ("updated, not
duplicated"); once it is completed or closed, a new change is new work. A request to close (a launch left
backwards, a change undone) only makes sense for an open task and is dropped otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping

from shared.rules.findings import Finding
from shared.store.links import Link, LinkState

_LIVE = (LinkState.open, LinkState.pending)


def retarget(findings: Iterable[Finding], links: Mapping[str, Link]) -> list[Finding]:
    """Findings with the fingerprint of the live link of their product and scope, when there is one;
    a close request for a product inside a live grouped task is addressed to its member entry there (the
    group then lets it go, see desired.py); other close requests without a live task are dropped. The
    latest finding per target wins."""
    live: dict[tuple[str, str], str] = {}
    grouped: dict[tuple[str, str], str] = {}  # (product id, group key) -> member fingerprint
    for link in links.values():
        if link.state not in _LIVE:
            continue
        if link.data.get("kind") == "group":
            for member_fp, info in (link.data.get("members") or {}).items():
                grouped[(str(info.get("product_id", "")), str(link.data.get("group_key", "")))] = member_fp
        elif link.product_id:
            live.setdefault((link.product_id, link.scope), link.fingerprint)
    result: dict[str, Finding] = {}
    for finding in findings:
        target = live.get((finding.subject, finding.scope))
        if target is None and finding.event.get("close_note"):
            target = grouped.get((finding.subject, finding.group_key))
            if target is None:
                continue
        if target is None:
            result[finding.fingerprint] = finding
        else:
            result[target] = replace(finding, fingerprint=target)
    return list(result.values())
