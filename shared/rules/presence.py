"""What "present" means for an attribute value, per kind of requirement.

Plytix returns empty attributes omitted, as null, or as "" (a Decimal attribute showed `""` in the
official collection), HTML attributes as markup that can be empty to a reader (`<p>&nbsp;</p>`), media
galleries as lists of asset dicts and single media as one asset dict or null (reference collection,
"Get product data"). Each check answers present-or-not plus a short description of what it saw, for the
task description.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Literal

RequirementKind = Literal["text", "html", "media"]

# Characters that render as nothing but are not whitespace to str.strip().
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


@dataclass(frozen=True)
class Observation:
    present: bool
    seen: str  # "blank", "no visible text", "1 of 3", ... (for people)


def observe(kind: RequirementKind, value: Any, min_count: int = 1) -> Observation:
    """Check `value` against the meaning of `kind`."""
    if kind == "media":
        count = media_count(value)
        return Observation(count >= min_count, f"{count} of {min_count}")
    if kind == "html":
        if isinstance(value, str):
            return Observation(bool(visible_text(value)), "no visible text")
        return Observation(not is_blank(value), "empty")
    return Observation(not is_blank(value), "empty")


def is_blank(value: Any) -> bool:
    """None, whitespace-only text, and empty lists/dicts are blank; numbers and booleans are values."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip().strip(_INVISIBLE).strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def visible_text(html: str) -> str:
    """The text a reader would see: tags, comments, scripts and styles removed, entities such as &nbsp;
    decoded, whitespace collapsed."""
    parser = _TextCollector()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    for char in _INVISIBLE:
        text = text.replace(char, "")
    return " ".join(text.split())


def media_count(value: Any) -> int:
    """How many assets a Media (one dict or null) or Media gallery (list of dicts) attribute holds."""
    if isinstance(value, (list, tuple)):
        return sum(1 for item in value if not is_blank(item))
    return 0 if is_blank(value) else 1


class _TextCollector(HTMLParser):
    _HIDDEN = {"script", "style", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)
