"""First-party plugin for scikit-learn estimators saved with joblib.

Serve with ``drucker serve --plugin drucker_sklearn --model model.joblib``.

What the model takes is read from the model itself:

- **Numeric models** (any estimator or pipeline that does not start with a text vectorizer):
  ``ArrFloat``/``ArrInt``/``ArrString`` are one row of features; ``String``/``Bytes`` are one
  row written as a JSON array or comma-separated numbers (anything else is
  ``INVALID_ARGUMENT``). The V2 signature declares an ``FP32`` input of
  ``n_features_in_`` columns.
- **Text models** (a ``CountVectorizer``, ``TfidfVectorizer`` or ``HashingVectorizer``, or a
  pipeline whose first step is one): ``String``/``Bytes`` are one document, always (``"10, 10"``
  is a document, not two numbers); array inputs are ``INVALID_ARGUMENT``. The V2 signature
  declares a ``BYTES`` input of text (``content_type: str``), one document per row.

Outputs, for classifiers with ``predict_proba``:

- ``String``/``Bytes``: the predicted class and its probability;
- array outputs: every class ranked by probability (best first) with the probabilities as
  scores; ``ArrInt``/``ArrFloat`` give the classes themselves when they are numbers and their
  indices in ``estimator.classes_`` when they are not.

Estimators without ``predict_proba`` (regressors, some classifiers) answer with the prediction
and a score of 1.0.

Evaluation data: see :mod:`drucker_sklearn.evaluation` (CSV, the true label last).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import joblib
import numpy as np

import drucker
from drucker import EvaluationDetail, Kind, PredictResult, TensorResult
from drucker_sklearn import evaluation
from drucker_sklearn.inputs import check_length, document, feature_count, row, takes_text

EVALUATION_BLOCK_ROWS = evaluation.EVALUATION_BLOCK_ROWS


@drucker.hookimpl
def drucker_load_model(model_path: str) -> Any:
    """Load a joblib file and check that it can predict."""
    model = joblib.load(model_path)
    if not hasattr(model, "predict"):
        raise TypeError(f"{type(model).__name__} has no predict method")
    return model


def _ranked_classes(model: Any, order: np.ndarray, output_kind: Kind) -> np.ndarray:
    """The classes in ``order`` (indices into ``classes_``, any shape), or the indices
    themselves when a numeric output kind is asked of classes that are not numbers."""
    classes = np.asarray(model.classes_)
    numeric = np.issubdtype(classes.dtype, np.number)
    wants_number = output_kind in (Kind.ARR_INT, Kind.ARR_FLOAT)
    return classes[order] if numeric or not wants_number else order


def _ranked(model: Any, proba: np.ndarray, output_kind: Kind) -> tuple[list[Any], list[float]]:
    order = np.argsort(-proba, kind="stable")
    return _ranked_classes(model, order, output_kind).tolist(), proba[order].tolist()


@drucker.hookimpl
def drucker_predict(model: Any, input: Any, input_kind: Kind, output_kind: Kind) -> PredictResult:
    """Predict one row; see the module documentation for the shape of the answer."""
    features = row(model, input, input_kind)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(features))[0]
        if output_kind.is_array:
            labels, scores = _ranked(model, proba, output_kind)
            return PredictResult(label=labels, score=scores)
        best = int(proba.argmax())
        label = model.classes_[best]
        # A String answer is the class's text; done here, it skips the generic coercion.
        text = str(label) if output_kind is Kind.STRING and not isinstance(label, bytes) else label
        return PredictResult(label=text, score=float(proba[best]))
    prediction = np.asarray(model.predict(features)).reshape(-1)
    return PredictResult(label=prediction, score=[1.0] * prediction.size)


MATRIX_SLICE_ROWS = 4096


def _matrix(inputs: list[Any]) -> np.ndarray:
    """Numeric rows as one float matrix, converted in slices.

    One conversion (or ``vstack``) of 100,000 rows is a single call that holds the GIL, and so
    the server's event loop, for seconds; slices let other threads in between.
    """
    parts = [
        np.asarray(inputs[start : start + MATRIX_SLICE_ROWS], dtype=np.float64)
        for start in range(0, len(inputs), MATRIX_SLICE_ROWS)
    ]
    if any(part.ndim != 2 for part in parts):
        raise ValueError("the rows of a batch must be numbers of one length")
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


@drucker.hookimpl
def drucker_predict_batch(
    model: Any, inputs: list[Any], input_kind: Kind, output_kind: Kind
) -> list[PredictResult]:
    """Predict many rows (numbers or documents) with one call (adaptive batching)."""
    matrix: Any
    if takes_text(model):
        matrix = [document(value, input_kind) for value in inputs]
    elif input_kind in (Kind.ARR_FLOAT, Kind.ARR_INT):
        for value in inputs:
            check_length(value, model)
        matrix = _matrix(inputs)
    else:
        matrix = np.vstack([row(model, value, input_kind) for value in inputs])
    if not hasattr(model, "predict_proba"):
        return [PredictResult(label=[label], score=[1.0]) for label in model.predict(matrix)]
    probabilities = np.asarray(model.predict_proba(matrix))
    if output_kind.is_array:
        ranked = (_ranked(model, proba, output_kind) for proba in probabilities)
        return [PredictResult(label=labels, score=scores) for labels, scores in ranked]
    best = probabilities.argmax(axis=1)
    labels = np.asarray(model.classes_)[best]
    # Plain Python values, converted for all rows at once: a String answer gets the class's
    # text, so the framework's per-row coercion finds nothing left to convert.
    if output_kind is Kind.STRING and labels.dtype.kind != "S":
        labels = labels.astype(str)
    scores = probabilities[np.arange(len(best)), best].tolist()
    return [
        PredictResult(label=label, score=score)
        for label, score in zip(labels.tolist(), scores, strict=True)
    ]


@drucker.hookimpl
def drucker_predict_tensor(model: Any, inputs: np.ndarray, output_kind: Kind) -> TensorResult:
    """Predict every row of a numeric V2 tensor with one call, answering arrays."""
    if takes_text(model):
        raise ValueError("this model reads text: send a BYTES tensor of documents")
    matrix = np.asarray(inputs, dtype=np.float64)
    if not hasattr(model, "predict_proba"):
        prediction = np.asarray(model.predict(matrix)).reshape(len(matrix), -1)
        if not output_kind.is_array:
            prediction = prediction[:, 0]
        return TensorResult(labels=prediction, scores=np.ones(prediction.shape))
    probabilities = np.asarray(model.predict_proba(matrix))
    if output_kind.is_array:
        order = np.argsort(-probabilities, axis=1, kind="stable")
        labels = _ranked_classes(model, order, output_kind)
        return TensorResult(labels=labels, scores=np.take_along_axis(probabilities, order, 1))
    best = probabilities.argmax(axis=1)
    classes = np.asarray(model.classes_)
    return TensorResult(labels=classes[best], scores=probabilities[np.arange(len(best)), best])


@drucker.hookimpl
def drucker_signature(model: Any) -> drucker.ModelSignature:
    """One row in (``n_features_in_`` FP32 numbers, or one text document); the class label
    and its score out."""
    if takes_text(model):
        model_input = drucker.TensorSpec("input", "BYTES", (-1,), content_type="str")
    else:
        model_input = drucker.TensorSpec("input", "FP32", (-1, feature_count(model)))
    return drucker.ModelSignature(
        inputs=(model_input,),
        outputs=(
            drucker.TensorSpec("label", "BYTES", (-1,)),
            drucker.TensorSpec("score", "FP32", (-1,)),
        ),
    )


@drucker.hookimpl
def drucker_evaluate(model: Any, data_path: str) -> Iterator[EvaluationDetail]:
    """Predict every row of a CSV file (label last) and yield one detail per row."""
    return evaluation.evaluate(model, data_path)
