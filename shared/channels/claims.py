"""One feed check per delivery in flight: identical deliveries share a claim from the moment the first is
queued until its check has finished.

Why a claim and not only idempotent work: the check is level-triggered, so running it twice would be
harmless, but a burst of retries (Plytix's retry policy is undocumented) would download the same feed
several times. The claim is a conditional create of a cursor row: a second claimant, on any instance,
gets a conflict. It is released when the check ends, so the channel processed again later (the same
body: Plytix sends identical payloads) is checked again. A claim whose check died is taken over after
CHANNEL_WEBHOOK_DEDUP_SECONDS.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.store import ConcurrentUpdate, Cursor, TableStores


def _name(key: str) -> str:
    return f"channel-delivery-{key}"


def claim_delivery(stores: TableStores, key: str, now: datetime, window: timedelta) -> bool:
    """True for the first of identical deliveries; False while another one's check is queued or running."""
    name = _name(key)
    try:
        stores.cursors.save(Cursor(name=name, value={"at": now.isoformat()}, etag=None))
        return True
    except ConcurrentUpdate:
        pass
    existing = stores.cursors.get(name)  # None: released in between, so this delivery starts a new check
    if existing is not None and datetime.fromisoformat(existing.value.get("at", now.isoformat())) > now - window:
        return False
    try:
        stores.cursors.save(Cursor(name=name, value={"at": now.isoformat()},
                                   etag=existing.etag if existing is not None else None))
        return True
    except ConcurrentUpdate:
        return False


def release_delivery(stores: TableStores, key: str) -> None:
    """The check is over: the next identical delivery is a new processing of the channel."""
    stores.cursors.delete(_name(key))
