"""Read a channel's published feed row by row, streaming, whatever its format (CSV, JSON or XML).

Why streaming everywhere: a channel feed can hold the whole catalog (tens of megabytes). The download is
read in chunks (httpx `iter_bytes`), each parser consumes those chunks incrementally (csv over a text
stream, ijson's push parser, expat through ElementTree.XMLPullParser), and a row is dropped as soon as it
has been checked, so memory stays flat as the feed grows.

Why a bad row is not fatal: one broken line in an export (a stray delimiter, an item that is not an
object, a row without SKU) is reported as a `BadRow` and the next row is read. Only a feed whose syntax
breaks beyond recovery (a JSON or XML document cut off, or invalid from some point on) stops early; the
reader then says so (`FeedTruncated`), and the rows read until then still count, but the caller must not
treat rows it did not see as fixed.

The XML parser is the standard library's expat: since expat 2.4.1 (bundled by Python 3.11) it is not
vulnerable to "billion laughs" or quadratic blowup, and ElementTree does not resolve external entities
(Python docs, "XML vulnerabilities").
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Union, cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

import ijson

FEED_FORMATS = ("csv", "json", "xml")
# Containers a JSON feed may wrap its rows in: a top-level array, or an object holding one of these keys.
_JSON_ROW_PREFIXES = ("item", "products.item", "items.item", "data.item", "rows.item")
# XML elements that hold one row (Google Shopping RSS: <item>, Atom: <entry>, Plytix-style: <product>).
_XML_ROW_TAGS = ("item", "product", "entry", "row")


@dataclass(frozen=True)
class FeedRow:
    number: int  # 1-based position in the feed (CSV: data line after the header)
    values: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    number: int
    reason: str


@dataclass(frozen=True)
class FeedTruncated:
    """The feed's syntax broke after `rows` rows: later rows, if any, were not read."""

    rows: int
    reason: str


FeedItem = Union[FeedRow, BadRow, FeedTruncated]


def detect_format(content_type: str, url_path: str, first_bytes: bytes) -> str:
    """csv, json or xml, from the Content-Type, else the URL's extension, else the first character."""
    kind = content_type.split(";")[0].strip().lower()
    for fmt, markers in (("json", ("json",)), ("xml", ("xml", "rss")), ("csv", ("csv", "tab-separated"))):
        if any(marker in kind for marker in markers):
            return fmt
    extension = url_path.rsplit(".", 1)[-1].lower() if "." in url_path.rsplit("/", 1)[-1] else ""
    if extension in FEED_FORMATS:
        return extension
    start = first_bytes.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return {b"[": "json", b"{": "json", b"<": "xml"}.get(start, "csv")


def read_rows(fmt: str, chunks: Iterable[bytes]) -> Iterator[FeedItem]:
    """The feed's rows, bad rows and (at most one, last) truncation, in feed order."""
    if fmt == "csv":
        return _csv_rows(chunks)
    if fmt == "json":
        return _json_rows(chunks)
    if fmt == "xml":
        return _xml_rows(chunks)
    raise ValueError(f"unknown feed format {fmt!r}: use one of {', '.join(FEED_FORMATS)}")


# ----------------------------------------------------------------------------------------------------
# CSV

class _ChunkStream(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (what csv/TextIOWrapper need)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _csv_rows(chunks: Iterable[bytes]) -> Iterator[FeedItem]:
    """Header line, then one row per record. Comma, semicolon or tab, guessed from the header. A row with
    a different number of fields than the header is a bad row. Undecodable bytes become U+FFFD."""
    text = io.TextIOWrapper(io.BufferedReader(_ChunkStream(chunks), 1 << 16), encoding="utf-8-sig",
                            errors="replace", newline="")
    header_line = text.readline()
    if not header_line.strip():
        return
    delimiter = max((",", ";", "\t"), key=header_line.count)
    header = next(csv.reader([header_line], delimiter=delimiter))
    header = [name.strip() for name in header]
    reader = csv.reader(text, delimiter=delimiter)
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a NUL byte; the reader resumes at the next line
            number += 1
            yield BadRow(number, f"unreadable CSV: {exc}")
            continue
        if not fields:
            continue  # a blank line
        number += 1
        if len(fields) != len(header):
            yield BadRow(number, f"{len(fields)} fields, the header has {len(header)}")
            continue
        yield FeedRow(number, dict(zip(header, fields, strict=False)))


# ----------------------------------------------------------------------------------------------------
# JSON

def _json_rows(chunks: Iterable[bytes]) -> Iterator[FeedItem]:
    """Rows are the elements of a top-level array, or of an array under products/items/data/rows."""
    builder_events = ijson.sendable_list()
    parser = ijson.parse_coro(builder_events, use_float=True)
    number = 0
    builder: Optional[ijson.ObjectBuilder] = None
    row_prefix: Optional[str] = None
    depth = 0
    try:
        for chunk in chunks:
            parser.send(chunk)
            for prefix, event, value in builder_events:
                item, builder, row_prefix, depth = _json_step(prefix, event, value, builder, row_prefix, depth)
                if item is not None:
                    number += 1
                    yield _json_item(number, item)
            del builder_events[:]
        parser.close()
        for prefix, event, value in builder_events:
            item, builder, row_prefix, depth = _json_step(prefix, event, value, builder, row_prefix, depth)
            if item is not None:
                number += 1
                yield _json_item(number, item)
    except ijson.common.IncompleteJSONError as exc:
        yield FeedTruncated(number, f"invalid JSON after row {number}: {str(exc).splitlines()[0][:200]}")


def _json_step(prefix: str, event: str, value: Any, builder: Optional[Any], row_prefix: Optional[str],
               depth: int) -> tuple[Any, Optional[Any], Optional[str], int]:
    """Feed one parse event; returns (a finished row or None, builder, row prefix, depth in row)."""
    if builder is None:
        if prefix in _JSON_ROW_PREFIXES and event in ("start_map", "start_array") and (
                row_prefix in (None, prefix)):
            builder = ijson.ObjectBuilder(map_type=dict)
            builder.event(event, value)
            return None, builder, prefix, 1
        if prefix in _JSON_ROW_PREFIXES and event in ("string", "number", "boolean", "null") and (
                row_prefix in (None, prefix)):
            return _Scalar(value), None, prefix, 0
        return None, None, row_prefix, 0
    builder.event(event, value)
    if event in ("start_map", "start_array"):
        depth += 1
    elif event in ("end_map", "end_array"):
        depth -= 1
        if depth == 0:
            return builder.value, None, row_prefix, 0
    return None, builder, row_prefix, depth


@dataclass(frozen=True)
class _Scalar:
    value: Any


def _json_item(number: int, item: Any) -> FeedItem:
    if isinstance(item, dict):
        return FeedRow(number, item)
    shown = item.value if isinstance(item, _Scalar) else item
    return BadRow(number, f"not an object: {str(shown)[:60]!r}")


# ----------------------------------------------------------------------------------------------------
# XML

def _xml_rows(chunks: Iterable[bytes]) -> Iterator[FeedItem]:
    """Rows are <item>, <product>, <entry> or <row> elements (namespaces ignored, so Google's <g:gtin> is
    column `gtin`); each child element is a column, repeated children become a list."""
    rows = _XmlRowEvents()
    number = 0
    try:
        for chunk in chunks:
            rows.parser.feed(chunk)
            for element in rows.finished():
                number += 1
                yield _xml_item(number, element)
        rows.parser.close()
        for element in rows.finished():
            number += 1
            yield _xml_item(number, element)
    except ParseError as exc:
        yield FeedTruncated(number, f"invalid XML after row {number}: {exc}")


class _XmlRowEvents:
    """Pull-parser state: which tag holds rows (the first of _XML_ROW_TAGS seen) and how deep we are."""

    def __init__(self) -> None:
        self.parser: XMLPullParser = XMLPullParser(events=("start", "end"))
        self.row_tag: Optional[str] = None
        self.open_rows = 0
        self._open: list[Element] = []  # the elements being parsed, outermost first

    def finished(self) -> Iterator[Element]:
        """Rows completed by the data fed so far. A row is detached from its parent once the caller is
        done with it, so the document tree never holds more than the row being read."""
        for event_and_item in self.parser.read_events():
            event, element = cast(tuple[str, Element], event_and_item)  # "start"/"end" events carry the element
            tag = _local(element.tag)
            if event == "start":
                self._open.append(element)
                if self.row_tag is None and tag in _XML_ROW_TAGS:
                    self.row_tag = tag
                if tag == self.row_tag:
                    self.open_rows += 1
                continue
            self._open.pop()
            if tag == self.row_tag:
                self.open_rows -= 1
                if self.open_rows == 0:
                    yield element
                    if self._open:
                        self._open[-1].remove(element)


def _xml_item(number: int, element: Element) -> FeedItem:
    values: dict[str, Any] = {}
    for child in element:
        if len(child):
            return BadRow(number, f"column <{_local(child.tag)}> holds elements, not a value")
        name, text = _local(child.tag), (child.text or "").strip()
        if name in values:
            previous = values[name]
            values[name] = (previous if isinstance(previous, list) else [previous]) + [text]
        else:
            values[name] = text
    return FeedRow(number, values)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
