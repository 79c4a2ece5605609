"""Query-string values as the HTTP API reads them, in one place so every route accepts the same spellings."""

from __future__ import annotations

from typing import Any, Optional


def flag(value: Optional[str]) -> Any:
    """`true`/`1` -> True, `false`/`0` (or absent) -> False, case-insensitive; anything else is returned
    as given, for the caller to reject with a message naming the parameter."""
    if value is None:
        return False
    return {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower(), value)
