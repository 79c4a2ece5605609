"""PartitionKey / RowKey escaping and validation.

Why: Table Storage forbids `/ \\ # ?` and control characters U+0000-U+001F, U+007F-U+009F in key
fields, and limits each key to 1 KiB ("Characters disallowed in key fields", Understanding the Table
service data model, https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
Product ids, rule ids and run ids come from outside (Plytix, the rules file), so they are escaped
reversibly before becoming keys; `%` is escaped too, which is what makes the encoding reversible.
Values we mint ourselves (fingerprints, Planner ids) are used verbatim but still validated.

The 1 KiB limit is applied to the UTF-16 size (2 bytes per code unit), the way the service stores strings:
the stricter reading of "up to 1 KiB in size", so a key that passes here is accepted whichever reading
the service uses.
"""

from __future__ import annotations

import re

from shared.store.errors import InvalidKey

MAX_KEY_BYTES = 1024

_CONTROL = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPED = frozenset({"/", "\\", "#", "?", "%"} | _CONTROL)
_FORBIDDEN = frozenset(_ESCAPED - {"%"})
_ESCAPE_SEQUENCE = re.compile(r"%([0-9A-F]{2})")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-F]{2})")


def escape_key(value: str) -> str:
    """Percent-encode the characters keys cannot hold (and `%` itself) as `%XX` (upper-case hex).

    Every escaped character is below U+00A0, so two hex digits always suffice.
    """
    if not isinstance(value, str):
        raise InvalidKey(f"a key must be a string, not {type(value).__name__}")
    return "".join(f"%{ord(ch):02X}" if ch in _ESCAPED else ch for ch in value)


def unescape_key(value: str) -> str:
    """Invert `escape_key`; a `%` not followed by two upper-case hex digits is not something we wrote."""
    if _STRAY_PERCENT.search(value):
        raise InvalidKey(f"not an escaped key (stray '%'): {_preview(value)}")
    return _ESCAPE_SEQUENCE.sub(lambda m: chr(int(m.group(1), 16)), value)


def validate_key(value: str, what: str) -> str:
    """Return `value` unchanged if Table Storage accepts it as a key; else raise InvalidKey naming `what`.

    Empty keys are legal in Table Storage but never meaningful here (an empty rule or product id is a bug
    upstream), so they are rejected too.
    """
    if not isinstance(value, str):
        raise InvalidKey(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidKey(f"{what} must not be empty")
    bad = sorted({f"U+{ord(ch):04X}" for ch in value if ch in _FORBIDDEN})
    if bad:
        raise InvalidKey(f"{what} contains characters Table Storage forbids in keys ({', '.join(bad)}): "
                         f"{_preview(value)}")
    try:
        size = len(value.encode("utf-16-le"))
    except UnicodeEncodeError:
        raise InvalidKey(f"{what} is not valid Unicode (lone surrogate): {_preview(value)}") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"{what} is {size} bytes as stored (UTF-16), over the {MAX_KEY_BYTES}-byte key limit")
    return value


def key_for(value: str, what: str) -> str:
    """Escape an outside identifier and validate the result: the one way such ids become keys."""
    return validate_key(escape_key(value), what)


def _preview(value: str) -> str:
    """A bounded repr for error messages (keys are identifiers, not secrets, but may be long)."""
    return repr(value if len(value) <= 80 else value[:77] + "...")
