"""Check a channel's published feed against the channel's requirements, then reconcile what changed.

Steps (one queue message = one delivery):
1. find the `channel_requirements` rules and channels that check this Plytix channel (none: logged, done);
2. stream the feed once, checking each row's columns for every such channel; keep only failing rows
   (SKU -> problems), so memory grows with the failures, not with the feed;
3. find the failing SKUs' product ids in Plytix (one search per 50 SKUs; SKUs are case-sensitive, search
   `eq` is not, so matches are filtered exactly);
4. store each product's problems (shared/store/channel_feed.py), drop the rows of products now fine;
5. reconcile exactly those products (failing now, or no longer), through the same reconciler as every pass:
   the rule merges attribute and feed problems into one task per product and channel.
A feed that broke off (FeedTruncated) only adds problems: products it did not reach keep their rows.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from shared.channels.claims import release_delivery
from shared.channels.delivery import Delivery, delivery_key
from shared.channels.download import FeedDownloadError, open_feed
from shared.channels.feed_reader import BadRow, FeedRow, FeedTruncated, read_rows
from shared.observability import log_event
from shared.rules.channel_requirements import ChannelRequirementsRule, feed_channels
from shared.rules.presence import is_blank
from shared.scan import ScanDeps, run_products_pass
from shared.store.channel_feed import FeedProblemRow

log = logging.getLogger(__name__)
SKUS_PER_SEARCH = 50
BAD_ROWS_REPORTED = 20


@dataclass
class FeedCheckReport:
    """What one feed check saw and did (logged; the demo and the bench print it)."""

    channel_name: str
    feed_url: str
    outcome: str = "checked"  # checked | unknown_channel | not_processed | refused | failed
    format: Optional[str] = None
    targets: list[str] = field(default_factory=list)  # "<rule id>/<channel>"
    bytes: int = 0
    rows: int = 0
    failing_rows: int = 0
    bad_rows: int = 0
    bad_row_samples: list[str] = field(default_factory=list)
    complete: bool = True
    unknown_skus: int = 0
    error: Optional[str] = None
    seconds: float = 0.0
    reconcile: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_feed_check(deps: ScanDeps, delivery: Delivery) -> FeedCheckReport:
    """Check the delivery's feed; raises FeedDownloadError only when retrying may help (the queue
    retries, then poisons the message)."""
    started = time.monotonic()
    report = FeedCheckReport(channel_name=delivery.channel_name, feed_url=delivery.feed_url)
    targets = feed_channels(deps.rules, delivery.channel_name)
    report.targets = [f"{rule.id}/{channel}" for rule, channel in targets]
    if not targets:
        report.outcome = "unknown_channel"
    elif not delivery.succeeded:
        report.outcome = "not_processed"
    else:
        try:
            failing = _read_feed(deps, delivery, targets, report)
        except FeedDownloadError as exc:
            report.outcome, report.error = ("failed" if exc.retriable else "refused"), str(exc)
            _log(report, started)
            if exc.retriable:
                raise
            return report
        changed = _store(deps, targets, failing, report)
        if changed:
            result = run_products_pass(deps, changed, rule_ids=sorted({rule.id for rule, _ in targets}),
                                       mode="channel-feed")
            report.reconcile = {"products": result.products_seen, "findings": result.findings,
                                "done": dict(result.done), "errors": result.errors[:10]}
    _log(report, started)
    return report


def run_queued_check(deps: ScanDeps, message: str) -> FeedCheckReport:
    """The queue trigger's work: check the delivery, then release its claim so that the channel's next
    processing is checked again. A retriable failure keeps the claim (the queue retries the message;
    identical deliveries meanwhile are duplicates)."""
    delivery = Delivery.from_message(message)
    report = run_feed_check(deps, delivery)
    release_delivery(deps.stores, delivery_key(delivery))
    return report


def _log(report: FeedCheckReport, started: float) -> None:
    report.seconds = round(time.monotonic() - started, 3)
    log_event(log, "channel_feed_checked", **{k: v for k, v in report.to_json().items()
                                               if k not in ("bad_row_samples", "reconcile")})


Target = tuple[ChannelRequirementsRule, str]


def _read_feed(deps: ScanDeps, delivery: Delivery, targets: list[Target],
               report: FeedCheckReport) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    """(rule id, channel) -> SKU -> {feed requirement key: problem}, for failing rows only."""
    settings = deps.settings
    failing: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(dict)
    plans = [(rule.id, name, rule.channel(name)) for rule, name in targets]
    with open_feed(delivery.feed_url, allowed_hosts=settings.channel_feed_hosts(),
                   max_bytes=settings.CHANNEL_FEED_MAX_BYTES,
                   timeout_seconds=settings.CHANNEL_FEED_TIMEOUT_SECONDS) as (fmt, chunks):
        report.format = fmt
        for item in read_rows(fmt, _counted(chunks, report)):
            if isinstance(item, FeedTruncated):
                report.complete = False
                _bad(report, f"feed ends early: {item.reason}")
                continue
            if isinstance(item, BadRow):
                _bad(report, f"row {item.number}: {item.reason}")
                continue
            report.rows += 1
            row_failed = False
            for rule_id, name, channel in plans:
                sku = item.values.get(channel.spec.sku_column)
                if is_blank(sku) or not isinstance(sku, (str, int)):
                    _bad(report, f"row {item.number}: no SKU in column {channel.spec.sku_column!r}")
                    break
                problems = _row_problems(channel, item)
                if problems:
                    failing[(rule_id, name)][str(sku).strip()] = problems
                    row_failed = True
            report.failing_rows += row_failed
    return failing


def _counted(chunks: Iterable[bytes], report: FeedCheckReport) -> Iterable[bytes]:
    for chunk in chunks:
        report.bytes += len(chunk)
        yield chunk


def _row_problems(channel: Any, row: FeedRow) -> dict[str, str]:
    found = {}
    for check in channel.checks:
        if check.column:
            problem = check.violation(row.values.get(check.column))
            if problem:
                found[check.feed_key] = problem
    return found


def _bad(report: FeedCheckReport, message: str) -> None:
    report.bad_rows += 1
    if len(report.bad_row_samples) < BAD_ROWS_REPORTED:
        report.bad_row_samples.append(message)


def _store(deps: ScanDeps, targets: list[Target], failing: dict[tuple[str, str], dict[str, dict[str, str]]],
           report: FeedCheckReport) -> set[str]:
    """Write the new feed state; return the products to reconcile: every product the feed fails now, and
    every product it no longer fails. Not only the rows that changed: a check retried after its reconcile
    failed must reconcile again although its rows are already stored (the reconcile is level-triggered,
    so reconciling an unchanged product again costs reads, not writes)."""
    ids = _product_ids(deps, {sku for by_sku in failing.values() for sku in by_sku})
    report.unknown_skus = len({sku for by_sku in failing.values() for sku in by_sku} - set(ids))
    store = deps.stores.channel_feed
    changed: set[str] = set()
    for rule, channel in targets:
        now = {ids[sku]: FeedProblemRow(ids[sku], sku, problems)
               for sku, problems in failing.get((rule.id, channel), {}).items() if sku in ids}
        before = {row.product_id: row for row in store.list(rule.id, channel)}
        for product_id, row in now.items():
            if before.get(product_id) != row:
                store.save(rule.id, channel, row)
            changed.add(product_id)
        if report.complete:
            for product_id in before.keys() - now.keys():
                store.delete(rule.id, channel, product_id)
                changed.add(product_id)
    return changed


def _product_ids(deps: ScanDeps, skus: Iterable[str]) -> dict[str, str]:
    """SKU -> product id for the SKUs that exist in Plytix."""
    wanted = sorted(set(skus))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), SKUS_PER_SEARCH):
        chunk = wanted[start:start + SKUS_PER_SEARCH]
        filters = [[{"field": "sku", "operator": "eq", "value": sku}] for sku in chunk]
        for product in deps.plytix.search(filters, [], page_size=100):
            if product.get("sku") in chunk:  # eq ignores case; SKUs do not
                found[product["sku"]] = product["id"]
    return found
