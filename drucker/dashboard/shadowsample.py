"""Two versions compared on the shadow sample: the kept shadowed requests, each with the served
(primary) answer and the shadow's. Drawn as the evaluations' comparison is: per-label figures of
both versions, and a confusion matrix of one version's labels against the other's."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import attrs

from drucker.client.types import ShadowSampleRow

SHADOW_ERROR = "(shadow error)"  # the column of the requests the shadow failed
COLUMNS = (
    "at",
    "input",
    "primary_version",
    "primary_label",
    "primary_score",
    "shadow_version",
    "shadow_label",
    "shadow_score",
    "outcome",
    "score_difference",
)


def label_text(value: Any) -> str:
    """A label as the tables show it (a list of labels joined by commas)."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


@attrs.frozen
class LabelRow:
    """One label: how often each version answered it, and how often they agreed on it."""

    label: str
    primary: int
    shadow: int
    agreed: int


@attrs.frozen
class Comparison:
    """The sample's figures for one pair of versions."""

    primary: str
    shadow: str
    num: int
    agree: int
    disagree: int
    shadow_error: int
    mean_score_difference: float
    labels: list[LabelRow]
    matrix_labels: list[str]  # rows: the primary's labels, columns: the shadow's (and errors)
    matrix: list[list[int]]
    disagreements: list[ShadowSampleRow]  # the newest first

    @property
    def agreement(self) -> float | None:
        compared = self.agree + self.disagree
        return self.agree / compared if compared else None


def pairs(rows: list[ShadowSampleRow]) -> list[tuple[str, str]]:
    """The (primary, shadow) version pairs of the sample, the most common first."""
    counts = Counter((row.primary_version, row.shadow_version) for row in rows)
    return [pair for pair, _ in counts.most_common()]


def compare(rows: list[ShadowSampleRow], primary: str, shadow: str, keep: int = 20) -> Comparison:
    """The figures of the rows of one pair of versions (``keep`` disagreements kept)."""
    chosen = [r for r in rows if r.primary_version == primary and r.shadow_version == shadow]
    outcomes = Counter(row.outcome for row in chosen)
    order: list[str] = []
    for row in chosen:
        answered = [label_text(row.primary_label)]
        if row.outcome != "shadow_error":
            answered.append(label_text(row.shadow_label))
        for label in answered:
            if label not in order:
                order.append(label)
    columns = [*order, SHADOW_ERROR] if outcomes["shadow_error"] else list(order)
    index = {label: i for i, label in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in columns]  # square: the error row stays empty
    primary_counts: Counter[str] = Counter()
    shadow_counts: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    differences = []
    for row in chosen:
        mine = label_text(row.primary_label)
        theirs = SHADOW_ERROR if row.outcome == "shadow_error" else label_text(row.shadow_label)
        matrix[index[mine]][index[theirs]] += 1
        primary_counts[mine] += 1
        if row.outcome != "shadow_error":
            shadow_counts[theirs] += 1
            differences.append(row.score_difference)
        if row.outcome == "agree":
            agreed[mine] += 1
    labels = [
        LabelRow(label, primary_counts[label], shadow_counts[label], agreed[label])
        for label in order
    ]
    newest = [row for row in reversed(chosen) if row.outcome != "agree"][:keep]
    return Comparison(
        primary,
        shadow,
        len(chosen),
        outcomes["agree"],
        outcomes["disagree"],
        outcomes["shadow_error"],
        sum(differences) / len(differences) if differences else 0.0,
        labels,
        columns,
        matrix,
        newest,
    )


def as_csv(rows: list[ShadowSampleRow]) -> str:
    """The sample as CSV: one line a shadowed request, its input as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                f"{row.at:.3f}",
                json.dumps(row.input),
                row.primary_version,
                label_text(row.primary_label),
                " ".join(f"{s:.6g}" for s in row.primary_score),
                row.shadow_version,
                "" if row.outcome == "shadow_error" else label_text(row.shadow_label),
                " ".join(f"{s:.6g}" for s in row.shadow_score),
                row.outcome,
                f"{row.score_difference:.6g}",
            ]
        )
    return out.getvalue()
