"""`POST /api/plytix/channel-webhook` as a plain function: authenticate, validate, de-duplicate, and
hand the delivery to the feed-check queue. It answers at once (202): the download and the check run
from the queue, so Plytix never waits on a feed being read.

Answers:
- 401 without the right secret header (compared in constant time);
- 503 when the rules file is invalid or storage cannot take the claim (nothing is queued; Plytix may
  retry);
- 413 for a body over 1 MiB; 400 for malformed JSON or missing fields; 422 for a feed_url we will not
  fetch (not https outside loopback, host not in CHANNEL_FEED_ALLOWED_HOSTS);
- 202 `{"status": "queued"}`, or 202 `{"status": "duplicate"}` while the same delivery is already queued
  or being checked (shared/channels/claims.py), or 202 `{"status": "ignored"}` for a channel no rule checks (logged:
  an error status would only make Plytix retry a delivery that can never succeed).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Optional

from azure.core.exceptions import AzureError

from shared.channels.claims import claim_delivery
from shared.channels.delivery import DeliveryError, authenticated, delivery_key, feed_url_problem, parse_delivery
from shared.observability import log_event
from shared.rules import Rule, RulesError
from shared.rules.channel_requirements import feed_channels
from shared.settings import Settings
from shared.store import TableStores

log = logging.getLogger(__name__)
Answer = tuple[int, dict[str, Any], Optional[str]]  # status, JSON body, queue message (or None)


def handle_delivery(body: bytes, headers: Mapping[str, str], *, settings: Settings,
                    rules: Callable[[], list[Rule]], stores: Callable[[], TableStores],
                    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> Answer:
    """Decide the answer to one delivery; the caller enqueues the returned message, if any."""
    secret = settings.PLYTIX_WEBHOOK_SECRET.get_secret_value() if settings.PLYTIX_WEBHOOK_SECRET else None
    if not authenticated(headers, settings.PLYTIX_WEBHOOK_HEADER, secret):
        return 401, {"error": f"missing or wrong {settings.PLYTIX_WEBHOOK_HEADER} header"}, None
    try:
        delivery = parse_delivery(body)
    except DeliveryError as exc:
        return exc.status, {"error": str(exc)}, None
    problem = feed_url_problem(delivery.feed_url, settings.channel_feed_hosts())
    if problem is not None:
        return 422, {"error": problem}, None
    try:
        known = feed_channels(rules(), delivery.channel_name)
    except RulesError:
        log.exception("channel webhook: the rules file cannot be loaded")
        return 503, {"error": "the rules file is invalid; see the app's log"}, None
    if not known:
        log_event(log, "channel_webhook_unknown_channel", channel=delivery.channel_name)
        return 202, {"status": "ignored", "reason": f"no rule checks channel {delivery.channel_name!r}"}, None
    key = delivery_key(delivery)
    try:
        claimed = claim_delivery(stores(), key, now(), timedelta(seconds=settings.CHANNEL_WEBHOOK_DEDUP_SECONDS))
    except AzureError as exc:  # storage unreachable: Plytix may retry later, and nothing was queued
        log.warning("channel webhook: cannot claim the delivery: %s", type(exc).__name__)
        return 503, {"error": "storage is unavailable; try again later"}, None
    if not claimed:
        log_event(log, "channel_webhook_duplicate", channel=delivery.channel_name, delivery=key)
        return 202, {"status": "duplicate", "delivery": key}, None
    log_event(log, "channel_webhook_queued", channel=delivery.channel_name, delivery=key,
              processing=delivery.status, products=delivery.products)
    return 202, {"status": "queued", "delivery": key}, delivery.to_message()
