"""Evaluation files of the scikit-learn plugin: CSV, the true label last.

Numeric models: ``feature,feature,...,label``. Text models: ``text,label`` (quote a text
that holds commas, as CSV does). A first line is a header, and skipped, when its features
are not numbers (numeric models) or its label is not one of the model's classes (text
models). Files are read in blocks, so files larger than memory work.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from drucker import EvaluationDetail, PredictResult
from drucker_sklearn.inputs import takes_text

EVALUATION_BLOCK_ROWS = 4096


def _read_rows(data_path: str) -> Iterator[list[str]]:
    with open(data_path, newline="", encoding="utf-8") as handle:
        for fields in csv.reader(handle):
            if fields and any(field.strip() for field in fields):
                yield fields


def _blocks(rows: Iterable[list[str]], size: int) -> Iterator[list[list[str]]]:
    iterator = iter(rows)
    while block := list(itertools.islice(iterator, size)):
        yield block


def _is_numeric(fields: list[str]) -> bool:
    try:
        [float(v) for v in fields]
    except ValueError:
        return False
    return True


def _is_header(first: list[str], model: Any, text: bool) -> bool:
    if not text:
        return not _is_numeric(first[:-1])
    known = {str(label) for label in np.asarray(getattr(model, "classes_", [])).tolist()}
    return bool(known) and first[-1] not in known


def _features(block: list[list[str]], text: bool, data_path: str) -> Any:
    if text:
        return [",".join(fields[:-1]) for fields in block]
    try:
        return np.asarray([[float(v) for v in fields[:-1]] for fields in block])
    except ValueError as exc:
        raise ValueError(f"{data_path}: features must be numbers for this model: {exc}") from None


def evaluate(model: Any, data_path: str) -> Iterator[EvaluationDetail]:
    """Predict every row of a CSV file (label last) and yield one detail per row."""
    text = takes_text(model)
    rows = _read_rows(data_path)
    first = next(rows, None)
    if first is None:
        return
    if len(first) < 2:
        raise ValueError(f"{data_path}: each line needs the features, then the label")
    if not _is_header(first, model, text):
        rows = itertools.chain([first], rows)
    classes = np.asarray(getattr(model, "classes_", []))
    has_proba = hasattr(model, "predict_proba")
    for block in _blocks(rows, EVALUATION_BLOCK_ROWS):
        features = _features(block, text, data_path)
        if has_proba:
            proba = np.asarray(model.predict_proba(features))
            best = proba.argmax(axis=1)
            labels, scores = classes[best], proba[np.arange(len(best)), best]
        else:
            labels, scores = np.asarray(model.predict(features)), np.ones(len(block))
        for sample, fields, label, score in zip(features, block, labels, scores, strict=True):
            yield EvaluationDetail(
                input=sample if text else sample.tolist(),
                label=fields[-1],
                result=PredictResult(label=label.item(), score=float(score)),
                is_correct=str(label.item()) == fields[-1],
            )
