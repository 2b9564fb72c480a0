"""Evaluation metrics from a plugin's evaluation details (the hook runs in the runtime).

Metrics accumulate while details stream, so data sets larger than memory work. They follow
scikit-learn's ``classification_report``: per-class precision, recall and F1 (0 where
undefined), over the sorted set of true and predicted labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from drucker.types import EvaluationDetail


@attrs.frozen
class EvaluationMetrics:
    """Summary of one evaluation; per-class lists follow ``labels``."""

    num: int
    accuracy: float
    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]

    def macro(self) -> dict[str, float]:
        """Unweighted means over classes, as ``classification_report``'s "macro avg"."""
        count = len(self.labels) or 1
        return {
            "macro_precision": sum(self.precision) / count,
            "macro_recall": sum(self.recall) / count,
            "macro_f1": sum(self.f1) / count,
        }


class MetricsAccumulator:
    """Counts true positives, predictions and supports per label."""

    def __init__(self) -> None:
        self.num = 0
        self.correct = 0
        self._true_positive: Counter[str] = Counter()
        self._predicted: Counter[str] = Counter()
        self._support: Counter[str] = Counter()

    def records(self, details: Iterable[EvaluationDetail]) -> Iterator[dict[str, Any]]:
        """Count every detail while passing on its record (see :func:`detail_record`)."""
        for detail in details:
            record = detail_record(detail)
            self.add(
                _label_text(detail.label), _label_text(detail.result.label), record["is_correct"]
            )
            yield record

    def add(self, truth: str, predicted: str, is_correct: bool) -> None:
        """Count one sample."""
        self.num += 1
        self.correct += is_correct
        self._support[truth] += 1
        self._predicted[predicted] += 1
        if truth == predicted:
            self._true_positive[truth] += 1

    def metrics(self) -> EvaluationMetrics:
        """The metrics of everything added so far."""
        labels = sorted(set(self._support) | set(self._predicted))
        precision, recall, f1 = [], [], []
        for label in labels:
            tp = self._true_positive[label]
            p = tp / self._predicted[label] if self._predicted[label] else 0.0
            r = tp / self._support[label] if self._support[label] else 0.0
            precision.append(p)
            recall.append(r)
            f1.append(2 * p * r / (p + r) if p + r else 0.0)
        return EvaluationMetrics(
            num=self.num,
            accuracy=self.correct / self.num if self.num else 0.0,
            labels=labels,
            precision=precision,
            recall=recall,
            f1=f1,
            support=[self._support[label] for label in labels],
        )


def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _label_text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def detail_record(detail: EvaluationDetail) -> dict[str, Any]:
    """The JSON-lines record of one evaluated sample."""
    return {
        "input": _plain(detail.input),
        "label": _plain(detail.label),
        "output": _plain(detail.result.label),
        "score": _plain(detail.result.score),
        "is_correct": detail.correct(),
    }
