"""Plytix channels in the stand-in: published feeds (CSV, JSON, XML) and the channel webhook.

What Plytix does (API_FACTS.md; Plytix Help, "Getting Started with Plytix Webhooks"): a channel exports
products to a feed file at a stable URL (the help's example: https://pim.plytix.com/example-channel/feed)
and, when processing finishes, POSTs the basic body `{"channel_name","channel_processing_status",
"channel_url","feed_url","processed_products"}` to the configured URL, or an advanced custom body with
custom headers. Plytix signs nothing. The stand-in serves the feed of the current catalog and fires the
webhook on request, so tests and the demo can play "Plytix processed the channel".

Routes (endpoint names for faults in brackets):
    GET  /channels/{name}/feed                 the channel's feed, streamed    [plytix.channel_feed]
    POST /_sandbox/channels/{name}             configure a channel (body below)
    POST /_sandbox/channels/{name}/process     fire the webhook: {"webhook_url", "headers": {...},
                                               "body": "basic"|"advanced"}; answers the webhook's status
Channel configuration:
    {"format": "csv"|"json"|"xml",
     "columns": {"sku": "sku", "item_name": "attributes.amazon_title", "gtin": "gtin"},  column -> source
     "truncate": {"item_name": 150},      a channel transformation cutting a column to N characters
     "override": {"<sku>": {"item_name": "..."}},  what one product's row exports instead (a transformation
                                          gone wrong for one product)
     "bad_rows": 2,                       malformed rows mixed in (wrong field count / not an object /
                                          nested element, and a row without SKU)
     "cut_off": false,                    end the document in the middle of a row
     "filler_rows": 0, "filler_bytes": 200}  extra valid rows of about that size (SKUs not in Plytix):
                                          how big feeds are made for memory tests and benches
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional
from xml.sax.saxutils import escape

import httpx

from sandbox.base import App, HttpError, Request, Response

FORMATS = ("csv", "json", "xml")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
                 "xml": "application/xml; charset=utf-8"}


@dataclass
class ChannelConfig:
    format: str = "csv"
    columns: dict[str, str] = field(default_factory=lambda: {"sku": "sku", "title": "attributes.amazon_title"})
    truncate: dict[str, int] = field(default_factory=dict)
    override: dict[str, dict[str, Any]] = field(default_factory=dict)  # SKU -> {column: exported value}
    bad_rows: int = 0
    cut_off: bool = False
    filler_rows: int = 0
    filler_bytes: int = 200

    @classmethod
    def from_json(cls, body: Any) -> "ChannelConfig":
        if not isinstance(body, dict):
            raise HttpError(422, {"error": {"msg": "body must be an object"}})
        unknown = set(body) - set(cls.__dataclass_fields__)
        if unknown:
            raise HttpError(422, {"error": {"msg": f"unknown keys: {sorted(unknown)}"}})
        config = cls(**body)
        if config.format not in FORMATS or "sku" not in config.columns.values():
            raise HttpError(422, {"error": {"msg": "format must be csv, json or xml and a column must be 'sku'"}})
        return config


class ChannelFeeds:
    """The channels of one Plytix stand-in; `products` returns the current raw records."""

    def __init__(self, app: App, products: Any) -> None:
        self._products = products
        self.channels: dict[str, ChannelConfig] = {}
        self._register(app)

    def configure(self, name: str, **settings: Any) -> ChannelConfig:
        self.channels[name] = ChannelConfig.from_json(settings)
        return self.channels[name]

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The feed's data rows as they are now (archived products are not exported)."""
        config = self._config(name)
        rows = []
        for product in self._products():
            if product.get("status") == "Archived":
                continue
            row = {column: _cell(product, source) for column, source in config.columns.items()}
            for column, limit in config.truncate.items():
                if isinstance(row.get(column), str):
                    row[column] = row[column][:limit]
            row.update(config.override.get(product["sku"], {}))
            rows.append(row)
        return rows

    def feed(self, name: str) -> Iterator[bytes]:
        """The feed document, generated while it is sent (filler rows are never all in memory)."""
        config = self._config(name)
        rows = self.rows(name)  # a snapshot taken under the app lock; filler rows are made lazily
        writer = {"csv": _csv_feed, "json": _json_feed, "xml": _xml_feed}[config.format]
        return writer(config, rows)

    def _config(self, name: str) -> ChannelConfig:
        if name not in self.channels:
            raise HttpError(404, {"error": {"msg": f"no channel {name!r}: configure it first"}})
        return self.channels[name]

    def _register(self, app: App) -> None:
        @app.route("GET", r"/channels/(?P<name>[\w-]+)/feed", "plytix.channel_feed")
        def get_feed(req: Request) -> Response:
            config = self._config(req.params["name"])
            return Response(200, self.feed(req.params["name"]), {"Content-Type": CONTENT_TYPES[config.format]})

        @app.route("POST", r"/_sandbox/channels/(?P<name>[\w-]+)", "admin")
        def configure(req: Request) -> Response:
            config = self.configure(req.params["name"], **(req.json() or {}))
            return Response(201, {"channel": req.params["name"], **config.__dict__})

        @app.route("POST", r"/_sandbox/channels/(?P<name>[\w-]+)/process", "admin")
        def process(req: Request) -> Response:
            body = req.json()
            url = body.get("webhook_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise HttpError(422, {"error": {"msg": "webhook_url is required"}})
            name = req.params["name"]
            feed_url = f"http://{req.headers.get('host', '127.0.0.1')}/channels/{name}/feed"
            payload = webhook_body(name, feed_url, len(self.rows(name)), body.get("body", "basic"))
            answer = httpx.post(url, json=payload, headers=body.get("headers") or {}, timeout=30)
            return Response(200, {"status": answer.status_code, "body": _json_or_text(answer),
                                  "sent": payload})


def webhook_body(channel: str, feed_url: str, products: int, shape: str) -> dict[str, Any]:
    """The basic body, or the advanced custom body the README tells people to configure."""
    channel_url = feed_url.rsplit("/feed", 1)[0]
    if shape == "advanced":
        return {"channel_name": channel, "channel_processing": "success", "channel_url": channel_url,
                "feed_url": feed_url, "products": str(products)}
    return {"channel_name": channel, "channel_processing_status": "success", "channel_url": channel_url,
            "feed_url": feed_url, "processed_products": products}


def _cell(product: dict[str, Any], source: str) -> Any:
    value = product["attributes"].get(source[11:]) if source.startswith("attributes.") else product.get(source)
    if isinstance(value, list):  # a gallery: its URLs, as Google's additional_image_link lists them
        return ",".join(str(item.get("url", "")) if isinstance(item, dict) else str(item) for item in value)
    if isinstance(value, dict):
        return value.get("url", "")
    return "" if value is None else value


def _filler(config: ChannelConfig) -> Iterator[dict[str, Any]]:
    """Valid rows of about `filler_bytes` each, for SKUs that are not in Plytix."""
    # The padding goes into the last text column (put a column no rule checks there, e.g. a description).
    text_column = next((c for c, source in reversed(config.columns.items()) if source not in ("sku", "gtin")), None)
    padding = ("Filler row " * (config.filler_bytes // 11 + 1))[:max(config.filler_bytes - 40, 1)]
    for number in range(config.filler_rows):
        row = {column: {"sku": f"FILLER-{number:08d}", "gtin": "4006381333931"}.get(source, "Filler")
               for column, source in config.columns.items()}
        if text_column:
            row[text_column] = padding
        yield row


def _bad_rows(config: ChannelConfig, fmt: str) -> list[Any]:
    """Malformed rows: half the count broken in the format's own way, half without a SKU."""
    rows: list[Any] = []
    for number in range(config.bad_rows):
        if number % 2:
            rows.append({column: ("" if source == "sku" else "no sku") for column, source in config.columns.items()})
        else:
            rows.append({"csv": "EXTRA_FIELD", "json": 42, "xml": "NESTED"}[fmt])
    return rows


def _mixed(config: ChannelConfig, rows: list[dict[str, Any]], fmt: str) -> Iterator[Any]:
    """Catalog rows with the bad rows spread among them, then the filler rows."""
    bad = _bad_rows(config, fmt)
    step = max(len(rows) // (len(bad) + 1), 1)
    for index, row in enumerate(rows):
        if bad and index and index % step == 0:
            yield bad.pop()
        yield row
    yield from bad
    yield from _filler(config)


def _buffered(pieces: Iterator[str], limit: int = 64 * 1024) -> Iterator[bytes]:
    """Text pieces sent in chunks of about `limit` bytes: a feed is never built whole in memory."""
    parts: list[str] = []
    size = 0
    for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size > limit:
            yield "".join(parts).encode()
            parts, size = [], 0
    if parts:
        yield "".join(parts).encode()


def _csv_feed(config: ChannelConfig, rows: list[dict[str, Any]]) -> Iterator[bytes]:
    return _buffered(_csv_pieces(config, rows))


def _csv_pieces(config: ChannelConfig, rows: list[dict[str, Any]]) -> Iterator[str]:
    columns = list(config.columns)
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\n")
    for row in [dict(zip(columns, columns, strict=True)), *_mixed(config, rows, "csv")]:
        if row == "EXTRA_FIELD":
            yield "broken,row,with,too,many,fields,for,the,header\n"
            continue
        line.seek(0)
        line.truncate()
        writer.writerow([row.get(c, "") for c in columns])
        yield line.getvalue()
    if config.cut_off:
        yield 'CUT-1,"an unterminated quote'


def _json_feed(config: ChannelConfig, rows: list[dict[str, Any]]) -> Iterator[bytes]:
    def pieces() -> Iterator[str]:
        yield '{"products": ['
        for index, row in enumerate(_mixed(config, rows, "json")):
            yield ("," if index else "") + json.dumps(row)
        yield ', {"sku": "CUT-1", "tit' if config.cut_off else "]}"

    return _buffered(pieces())


def _xml_feed(config: ChannelConfig, rows: list[dict[str, Any]]) -> Iterator[bytes]:
    def pieces() -> Iterator[str]:
        yield '<?xml version="1.0" encoding="UTF-8"?>\n<rss xmlns:g="http://base.google.com/ns/1.0"><channel>'
        for row in _mixed(config, rows, "xml"):
            if row == "NESTED":
                yield "<item><g:id>NESTED-1</g:id><title><b>nested</b></title></item>"
            else:
                yield "<item>" + "".join(f"<g:{c}>{escape(str(v))}</g:{c}>" for c, v in row.items()) + "</item>"
        yield "<item><g:sku>CUT-1</g:sku><title>unfini" if config.cut_off else "</channel></rss>"

    return _buffered(pieces())


def _json_or_text(response: httpx.Response) -> Optional[Any]:
    try:
        return response.json()
    except ValueError:
        return response.text
