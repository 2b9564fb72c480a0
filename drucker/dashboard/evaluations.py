"""Evaluation results kept by the dashboard: confusion matrix, CSV details, comparisons."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import attrs

from drucker.client import EvaluationRecord


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


@attrs.frozen
class Details:
    """What the per-sample records give: the confusion matrix (rows: true labels) and a CSV."""

    labels: list[str]
    confusion: list[list[int]]
    csv: str


def details_of(labels: Iterable[str], records: Iterable[EvaluationRecord]) -> Details:
    """One pass over the records; labels seen only in records are added after ``labels``."""
    order = list(labels)
    index = {label: i for i, label in enumerate(order)}
    pairs: list[tuple[int, int]] = []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["input", "label", "output", "score", "is_correct"])
    for record in records:
        true, predicted = _text(record.label), _text(record.output)
        for label in (true, predicted):
            if label not in index:
                index[label] = len(order)
                order.append(label)
        pairs.append((index[true], index[predicted]))
        writer.writerow(
            [
                json.dumps(record.input),
                true,
                predicted,
                " ".join(f"{s:.6g}" for s in record.score),
                record.is_correct,
            ]
        )
    matrix = [[0] * len(order) for _ in order]
    for true_index, predicted_index in pairs:
        matrix[true_index][predicted_index] += 1
    return Details(order, matrix, out.getvalue())


@attrs.frozen
class ClassDifference:
    """One class in a comparison of two results (B minus A; ``None`` where a side lacks it)."""

    label: str
    a: tuple[float, float, float] | None
    b: tuple[float, float, float] | None

    @property
    def delta(self) -> tuple[float, float, float] | None:
        if self.a is None or self.b is None:
            return None
        return (self.b[0] - self.a[0], self.b[1] - self.a[1], self.b[2] - self.a[2])


def per_class(
    labels: list[str], p: list[float], r: list[float], f: list[float]
) -> dict[str, tuple[float, float, float]]:
    return {label: (p[i], r[i], f[i]) for i, label in enumerate(labels)}


def compare(
    a: dict[str, tuple[float, float, float]], b: dict[str, tuple[float, float, float]]
) -> list[ClassDifference]:
    """Per-class precision, recall and F1 of two results, in A's label order then B's."""
    labels = list(a) + [label for label in b if label not in a]
    return [ClassDifference(label, a.get(label), b.get(label)) for label in labels]
