"""Query-string values as the HTTP API reads them, in one place so every route accepts the same spellings."""

from __future__ import annotations

import json
from typing import Any, Optional


def flag(value: Optional[str]) -> Any:
    """`true`/`1` -> True, `false`/`0` (or absent) -> False, case-insensitive; anything else is returned
    as given, for the caller to reject with a message naming the parameter."""
    if value is None:
        return False
    return {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower(), value)


def json_body(body: bytes) -> Any:
    """The request body parsed as JSON, or ValueError with a message for a 400. The standard parser
    recurses per nesting level, so a body of a few kilobytes of `[[[[...` raises RecursionError (a 500
    before this); that is bad input like any other malformed body."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
        raise ValueError(str(exc)) from None
