"""Chart geometry for inline SVG: the numbers a template needs to draw bars, nothing else.

Why computed here and drawn by templates: the geometry is testable as plain data, and the SVG is written by
Jinja with autoescaping, so a label can never become markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Bar:
    """One labelled bar; `width` is the share of the chart's width in percent (0 to 100)."""

    label: str
    value: float
    width: float
    text: str  # the value as shown next to the bar


def bars(items: Sequence[tuple[str, float]], *, scale: float | None = None, unit: str = "") -> list[Bar]:
    """Bars for (label, value) pairs, scaled to `scale` (default: the largest value) so the longest fills
    the chart. Values below 0 draw as 0."""
    top = scale if scale is not None else max((value for _, value in items), default=0)
    return [Bar(label, value, 0.0 if top <= 0 else round(min(100.0, 100.0 * max(0.0, value) / top), 2),
                f"{value:g}{unit}") for label, value in items]


@dataclass(frozen=True)
class Column:
    """One column of a grouped column chart, in viewBox units (x from the left, y from the top)."""

    series: str
    x: float
    y: float
    height: float
    value: int


@dataclass(frozen=True)
class ColumnChart:
    width: float
    height: float
    bar_width: float
    columns: list[Column]
    ticks: list[tuple[float, str]]  # (x of the group's centre, its label)


def grouped_columns(groups: Sequence[tuple[str, Sequence[int]]], series: Sequence[str], *,
                    height: float = 100.0, bar_width: float = 6.0, gap: float = 6.0) -> ColumnChart:
    """Columns for each group (e.g. a day) and series (created, closed...), all on one scale."""
    top = max((v for _, values in groups for v in values), default=0)
    group_width = bar_width * len(series) + gap
    columns, ticks = [], []
    for g, (label, values) in enumerate(groups):
        left = g * group_width + gap / 2
        for s, (name, value) in enumerate(zip(series, values, strict=False)):
            h = 0.0 if top <= 0 else round(height * value / top, 2)
            columns.append(Column(name, round(left + s * bar_width, 2), round(height - h, 2), h, value))
        ticks.append((round(left + bar_width * len(series) / 2, 2), label))
    return ColumnChart(round(max(group_width * len(groups), 1.0), 2), height, bar_width, columns, ticks)
