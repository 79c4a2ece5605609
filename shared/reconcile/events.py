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
    close requests without a live task to close are dropped. The latest finding per target wins."""
    live: dict[tuple[str, str], str] = {}
    for link in links.values():
        if link.state in _LIVE and link.product_id and link.data.get("kind") != "group":
            live.setdefault((link.product_id, link.scope), link.fingerprint)
    result: dict[str, Finding] = {}
    for finding in findings:
        target = live.get((finding.subject, finding.scope))
        if target is None:
            if finding.event.get("close_note"):
                continue
            result[finding.fingerprint] = finding
        else:
            result[target] = replace(finding, fingerprint=target)
    return list(result.values())
