"""Plain-text tables for the benches: right-aligned columns under a dashed rule.

Why a module of its own: every bench prints its results the same way, so their outputs line up and can
be pasted into an issue or the README as they are.
"""

from __future__ import annotations

from typing import Sequence


def render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The header, a dashed rule, then one line per row; every column as wide as its widest cell."""
    table = [tuple(header), *(tuple(row) for row in rows)]
    if any(len(row) != len(header) for row in table):
        raise ValueError("every row needs exactly one cell per header column")
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=False)) for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
