"""Charts drawn on the server as SVG geometry (no chart library; the page needs no script).

Each function returns plain shapes that a template writes out as ``<rect>`` and ``<text>``.
"""

from __future__ import annotations

import attrs

WIDTH = 640
BAR_HEIGHT = 220
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759")


@attrs.frozen
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str
    series: str
    label: str


@attrs.frozen
class Tick:
    x: float
    y: float
    text: str


@attrs.frozen
class BarChart:
    width: float
    height: float
    bars: list[Bar]
    ticks: list[Tick]
    legend: list[tuple[str, str]]
    plot_top: float
    plot_bottom: float


def bar_chart(
    labels: list[str], series: dict[str, list[float]], height: float = BAR_HEIGHT
) -> BarChart:
    """Grouped bars in [0, 1]: one group per label, one bar per series."""
    left, top, bottom = 40.0, 10.0, height - 40.0
    groups = max(1, len(labels))
    group_width = (WIDTH - left - 10) / groups
    bar_width = group_width * 0.8 / max(1, len(series))
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for g, label in enumerate(labels):
        x0 = left + g * group_width + group_width * 0.1
        for s, (name, values) in enumerate(series.items()):
            value = min(1.0, max(0.0, values[g] if g < len(values) else 0.0))
            h = (bottom - top) * value
            bars.append(
                Bar(
                    x0 + s * bar_width,
                    bottom - h,
                    bar_width * 0.9,
                    h,
                    PALETTE[s % len(PALETTE)],
                    f"{label} {name}: {value:.3f}",
                    name,
                    label,
                )
            )
        ticks.append(Tick(x0 + group_width * 0.4, bottom + 16, label))
    legend = [(name, PALETTE[s % len(PALETTE)]) for s, name in enumerate(series)]
    return BarChart(WIDTH, height, bars, ticks, legend, top, bottom)


@attrs.frozen
class Cell:
    x: float
    y: float
    size: float
    count: int
    opacity: float
    title: str
    dark: bool


@attrs.frozen
class HeatMap:
    size: float
    cells: list[Cell]
    rows: list[Tick]
    columns: list[Tick]
    cell: float


def heat_map(labels: list[str], matrix: list[list[int]]) -> HeatMap:
    """The confusion matrix as squares shaded by count (rows: true label; columns: predicted)."""
    n = max(1, len(labels))
    margin = 110.0
    cell = min(60.0, (WIDTH - margin) / n)
    peak = max((count for row in matrix for count in row), default=0) or 1
    cells = [
        Cell(
            margin + j * cell,
            margin + i * cell,
            cell - 2,
            count,
            0.08 + 0.92 * count / peak,
            f"true {labels[i]}, predicted {labels[j]}: {count}",
            count / peak > 0.5,
        )
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
    ]
    rows = [Tick(margin - 6, margin + i * cell + cell / 2, label) for i, label in enumerate(labels)]
    columns = [
        Tick(margin + j * cell + cell / 2, margin - 8, label) for j, label in enumerate(labels)
    ]
    return HeatMap(margin + n * cell + 10, cells, rows, columns, cell)
