"""Plytix channel webhook deliveries: authenticate, parse, validate, and say which ones are the same.

Facts (API_FACTS.md; Plytix Help, "Getting Started with Plytix Webhooks"): Plytix POSTs JSON when a
channel finishes processing. The basic body is
`{"channel_name","channel_processing_status","channel_url","feed_url","processed_products"}`, e.g.
`{"channel_name":"Example channel","channel_processing_status":"success",
  "channel_url":"https://pim.plytix.com/example-channel","feed_url":"https://pim.plytix.com/example-channel/feed",
  "processed_products":452}`. Advanced webhooks send a custom body built from `$channel_name
$channel_processing $channel_url $feed_url $products`; we document the body to configure (README), whose
keys are the variables' names. Plytix signs nothing: a secret custom header authenticates it. Retries
are undocumented, so the same delivery may arrive several times; `delivery_key` makes them one check.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from shared.http_params import json_body

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: a delivery is a few hundred bytes; more is not Plytix
SUCCESS = "success"
_LOOPBACK_NAMES = ("localhost",)


class DeliveryError(ValueError):
    """A delivery we refuse: `status` is the HTTP status to answer, the message the JSON reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Delivery:
    """One channel-processed notification, whichever body shape it came in."""

    channel_name: str
    status: str  # "success" when the body does not say (an advanced body may leave it out)
    feed_url: str
    channel_url: Optional[str]
    products: Optional[int]

    @property
    def succeeded(self) -> bool:
        return self.status.strip().lower() == SUCCESS

    def to_message(self) -> str:
        """The queue message: the delivery as JSON (the checker re-validates nothing but its shape)."""
        return json.dumps({"channel_name": self.channel_name, "status": self.status, "feed_url": self.feed_url,
                           "channel_url": self.channel_url, "products": self.products}, sort_keys=True)

    @classmethod
    def from_message(cls, text: str) -> "Delivery":
        data = json.loads(text)
        return cls(channel_name=data["channel_name"], status=data["status"], feed_url=data["feed_url"],
                   channel_url=data.get("channel_url"), products=data.get("products"))


def authenticated(headers: Mapping[str, str], header_name: str, secret: Optional[str]) -> bool:
    """True when the secret header matches, compared in constant time. No secret configured: nothing
    is authenticated (a webhook without a secret would let anyone trigger downloads)."""
    if not secret:
        return False
    wanted = header_name.lower()
    sent = next((value for name, value in headers.items() if name.lower() == wanted), None)
    return sent is not None and hmac.compare_digest(sent.encode("utf-8"), secret.encode("utf-8"))


def parse_delivery(body: bytes) -> Delivery:
    """The delivery in `body`, or DeliveryError(413 or 400) naming what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise DeliveryError(413, f"body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        data = json_body(body)
    except ValueError as exc:
        raise DeliveryError(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DeliveryError(400, "body must be a JSON object")
    channel_name = _text(data, "channel_name", required=True)
    feed_url = _text(data, "feed_url", required=True)
    status = (_text(data, "channel_processing_status", required=False)
              or _text(data, "channel_processing", required=False) or SUCCESS)
    return Delivery(channel_name=str(channel_name), status=status, feed_url=str(feed_url),
                    channel_url=_text(data, "channel_url", required=False),
                    products=_count(data.get("processed_products", data.get("products"))))


def _text(data: dict[str, Any], key: str, *, required: bool) -> Optional[str]:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DeliveryError(400, f"field '{key}' is required")
        return None
    if not isinstance(value, str):
        raise DeliveryError(400, f"field '{key}' must be a string")
    if len(value) > 2048:
        raise DeliveryError(400, f"field '{key}' is longer than 2048 characters")
    return value.strip()


def _count(value: Any) -> Optional[int]:
    """processed_products is a number in the basic body; `$products` inside a custom body's string is
    text ("452"). Anything else is ignored: it is informational."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def feed_url_problem(url: str, allowed_hosts: list[str]) -> Optional[str]:
    """Why we will not download `url`, or None. HTTPS only, except to a loopback host (local
    development against the sandbox); the host must be in the allow-list (SSRF guard: a forged delivery
    must not make the app fetch internal addresses). `*.example.com` allows subdomains."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "feed_url is not a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "feed_url must be an https:// URL"
    if parts.username or parts.password:
        return "feed_url must not carry credentials"
    if parts.scheme == "http" and not _loopback(host):
        return "feed_url must use https (plain http only to a loopback host in local development)"
    if not any(_host_matches(host, pattern) for pattern in allowed_hosts):
        return f"feed_url host {host!r} is not in CHANNEL_FEED_ALLOWED_HOSTS"
    return None


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def delivery_key(delivery: Delivery) -> str:
    """Identical deliveries (Plytix retrying, or a burst) share this key; 32 hex characters, a safe
    Table key."""
    canonical = json.dumps([delivery.channel_name.casefold(), delivery.status.lower(), delivery.feed_url,
                            delivery.products], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
