"""What a scikit-learn model takes (numbers or text), and one row of input for it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from drucker import Kind


def takes_text(model: Any) -> bool:
    """Whether ``model`` reads text documents: a text vectorizer (``CountVectorizer``,
    ``TfidfVectorizer``, ``HashingVectorizer``) or a pipeline whose first step is one."""
    first = model
    while hasattr(first, "steps"):  # a Pipeline, possibly nested
        first = first.steps[0][1]
    return hasattr(first, "build_analyzer")


def feature_count(model: Any) -> int:
    """How many numbers one row has (``-1`` when the model does not say)."""
    return int(getattr(model, "n_features_in_", -1))


def document(value: Any, input_kind: Kind) -> str:
    """One text document from a ``String`` or ``Bytes`` input; other kinds are refused."""
    if input_kind is Kind.STRING:
        return str(value)
    if input_kind is Kind.BYTES:
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("Bytes input to a text model must be UTF-8 text") from None
    raise ValueError(
        f"this model reads one text document per request: send String or Bytes input, "
        f"not {input_kind.value}"
    )


def check_length(value: Any, model: Any) -> None:
    """Refuse a row of numbers whose length is not the model's feature count, before any
    conversion: turning 15 million floats into a matrix only for scikit-learn to refuse it
    holds the GIL (the server's event loop) for a large fraction of a second."""
    count = feature_count(model)
    if count > 0 and len(value) != count:
        raise ValueError(f"the input has {len(value)} numbers; this model takes {count}")


def numbers(value: Any, input_kind: Kind, model: Any) -> np.ndarray:
    """One row of features, as a ``1 x n`` float matrix, from any input kind."""
    if isinstance(value, np.ndarray) or input_kind in (Kind.ARR_FLOAT, Kind.ARR_INT):
        check_length(value, model)
    if isinstance(value, np.ndarray):  # a big ArrFloat or ArrInt input: a read-only array
        return value.reshape(1, -1).astype(np.float64)
    if input_kind in (Kind.ARR_FLOAT, Kind.ARR_INT):
        return np.asarray([value], dtype=np.float64)
    if input_kind is Kind.ARR_STRING:
        try:
            return np.asarray([[float(v) for v in value]])
        except ValueError:
            raise ValueError("ArrString input must hold numbers for this model") from None
    text = bytes(value).decode("utf-8", "replace") if input_kind is Kind.BYTES else str(value)
    stripped = text.strip()
    try:
        parsed = json.loads(stripped) if stripped.startswith("[") else stripped.split(",")
        return np.asarray([[float(v) for v in parsed]])
    except (ValueError, TypeError):
        count = feature_count(model)
        wanted = f"{count} numbers" if count > 0 else "numbers"
        raise ValueError(
            f"this model takes {wanted} (a JSON array or comma-separated), not text"
        ) from None


def row(model: Any, value: Any, input_kind: Kind) -> Any:
    """One row of model input: a one-document list for a text model, else a float matrix."""
    if takes_text(model):
        return [document(value, input_kind)]
    return numbers(value, input_kind, model)
