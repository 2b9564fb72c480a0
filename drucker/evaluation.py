"""Evaluation: run the plugin's evaluate hook, compute metrics, store results as data.

Details stream from the plugin into a JSON-lines file while the metrics accumulate, so data
sets larger than memory work. Metrics follow scikit-learn's ``classification_report``: per-class
precision, recall and F1 (0 where undefined), over the sorted set of true and predicted labels.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from drucker.errors import InvalidInputError, ModelNotLoadedError, NotFoundError, PluginFailure
from drucker.runtime import Runtime
from drucker.store.names import validate_name
from drucker.types import EvaluationDetail

DETAILS_SUFFIX = ".jsonl"
METRICS_SUFFIX = ".metrics.json"


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


class ResultStore:
    """Evaluation results as files: ``<name>.jsonl`` (details) and ``<name>.metrics.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def paths(self, name: str) -> tuple[Path, Path]:
        validate_name(name, "result name")
        return (
            self.directory / f"{name}{DETAILS_SUFFIX}",
            self.directory / f"{name}{METRICS_SUFFIX}",
        )

    def write(self, name: str, runtime: Runtime, data_path: Path) -> EvaluationMetrics:
        """Evaluate the active model on ``data_path`` and store the result under ``name``."""
        details_path, metrics_path = self.paths(name)
        active = runtime.active
        if active is None:
            raise ModelNotLoadedError("no model is loaded yet")
        if not runtime.plugins.hook.drucker_evaluate.get_hookimpls():
            raise PluginFailure("the model plugin does not implement drucker_evaluate")
        self.directory.mkdir(parents=True, exist_ok=True)
        accumulator = MetricsAccumulator()
        temp = details_path.with_name(f".{details_path.name}.{os.getpid()}.tmp")
        try:
            with temp.open("w", encoding="utf-8") as out:
                details = runtime.plugins.hook.drucker_evaluate(
                    model=active.model, data_path=str(data_path), settings=runtime.settings
                )
                for detail in details or ():
                    record = detail_record(detail)
                    accumulator.add(
                        _label_text(detail.label),
                        _label_text(detail.result.label),
                        record["is_correct"],
                    )
                    out.write(json.dumps(record, default=str) + "\n")
                out.flush()
                os.fsync(out.fileno())
            if accumulator.num == 0:
                raise InvalidInputError(f"{data_path.name} holds no samples to evaluate")
            metrics = accumulator.metrics()
            os.replace(temp, details_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        _write_json_atomically(metrics_path, attrs.asdict(metrics))
        return metrics

    def read_metrics(self, name: str) -> EvaluationMetrics:
        """The stored metrics. :raises NotFoundError: when there is no such result."""
        _, metrics_path = self.paths(name)
        try:
            data = json.loads(metrics_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"no evaluation result named {name!r}") from None
        return EvaluationMetrics(**data)

    def read_details(self, name: str) -> Iterator[dict[str, Any]]:
        """The stored per-sample records, streamed from disk."""
        details_path, _ = self.paths(name)
        if not details_path.is_file():
            raise NotFoundError(f"no evaluation result named {name!r}")
        with details_path.open(encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def _write_json_atomically(path: Path, data: Any) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
