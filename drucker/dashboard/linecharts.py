"""Line charts drawn on the server as SVG geometry (the traffic panel's live figures).

As :mod:`drucker.dashboard.charts`: plain shapes that a template writes out, no chart library.
"""

from __future__ import annotations

import math

import attrs

from drucker.dashboard.charts import PALETTE as BAR_PALETTE
from drucker.dashboard.charts import WIDTH, Tick

LINE_HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 52.0, 10.0, 10.0, 34.0
PALETTE = (*BAR_PALETTE, "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
LEGEND_PER_ROW, LEGEND_ROW = 3, 14.0


@attrs.frozen
class Line:
    """One series: its points as an SVG ``points`` attribute, and its last value."""

    name: str
    color: str
    points: str
    count: int
    last: float | None


@attrs.frozen
class LineChart:
    width: float
    height: float
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[float, float, str, str]]  # x, y, name, colour
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        top = step * 10.0**exponent
        if top >= value * (1 - 1e-9):
            return top
    return 10.0 ** (exponent + 1)


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    y_max: float | None = None,
    y_format: str = "{:g}",
    x_label: str = "s ago",
    now: float | None = None,
    height: float = LINE_HEIGHT,
) -> LineChart:
    """Lines over time: each series' ``(at, value)`` points, ``at`` in seconds (the x axis runs
    from the oldest point to ``now``, the newest by default). The y axis runs from 0 to
    ``y_max`` (the largest value, rounded up to a 1-2-5 step, when not given)."""
    values = [value for points in series.values() for _, value in points]
    times = [at for points in series.values() for at, _ in points]
    top = y_max if y_max is not None else _nice_top(max([*values, 0.0]) or 1.0)
    end = now if now is not None else max(times, default=0.0)
    start = min(times, default=end)
    span = max(end - start, 1e-9)
    rows = max(1, -(-len(series) // LEGEND_PER_ROW))
    height += (rows - 1) * LEGEND_ROW
    left, right, plot_top = LEFT, WIDTH - RIGHT, TOP
    bottom = height - BOTTOM - (rows - 1) * LEGEND_ROW

    def x_of(at: float) -> float:
        return left + (right - left) * (at - start) / span if times else left

    def y_of(value: float) -> float:
        return bottom - (bottom - plot_top) * min(1.0, max(0.0, value / top))

    lines = []
    for index, (name, points) in enumerate(series.items()):
        drawn = " ".join(f"{x_of(at):.1f},{y_of(value):.1f}" for at, value in points)
        last = points[-1][1] if points else None
        lines.append(Line(name, PALETTE[index % len(PALETTE)], drawn, len(points), last))
    y_ticks = [
        Tick(left - 6, y_of(top * fraction) + 4, y_format.format(top * fraction))
        for fraction in (0.0, 0.5, 1.0)
    ]
    x_ticks = (
        [
            Tick(left, bottom + 16, f"{end - start:.0f} {x_label}"),
            Tick(right, bottom + 16, "now"),
        ]
        if times
        else []
    )
    column = (right - left) / LEGEND_PER_ROW
    legend = [
        (
            left + 8 + (i % LEGEND_PER_ROW) * column,
            bottom + 24 + (i // LEGEND_PER_ROW) * LEGEND_ROW,
            line.name,
            line.color,
        )
        for i, line in enumerate(lines)
    ]
    return LineChart(WIDTH, height, lines, y_ticks, x_ticks, legend, left, right, plot_top, bottom)
