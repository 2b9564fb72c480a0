"""Checks of what a plugin's hooks return, beside :mod:`drucker.coercion` which converts it.

Each function takes a hook's raw answer and gives the value the framework passes on, or raises
:class:`~drucker.errors.PluginFailure` (the plugin broke its contract) or
:class:`~drucker.errors.OutputKindError` (the answer does not fit the rpc's output kind).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drucker.coercion import coerce_label, coerce_labels, coerce_score, coerce_scores
from drucker.errors import OutputKindError, PluginFailure
from drucker.kinds import Kind
from drucker.types import EvaluationDetail, ModelSignature, PredictResult, TensorResult

_STRING = Kind.STRING


def predict_result(result: Any, output_kind: Kind) -> PredictResult:
    """A ``drucker_predict`` answer as a :class:`PredictResult` for ``output_kind``."""
    if (  # the common case, checked first: nothing to convert for a String answer
        output_kind is _STRING
        and type(result) is PredictResult
        and type(result.label) is str
        and type(result.score) is float
        and type(result.option) is dict
    ):
        return result
    if isinstance(result, tuple) and len(result) in (2, 3):
        result = PredictResult(*result)
    if not isinstance(result, PredictResult):
        raise PluginFailure(
            f"drucker_predict returned {type(result).__name__}; it must return "
            "drucker.PredictResult(label=..., score=..., option={...})"
        )
    if not isinstance(result.option, dict):
        raise OutputKindError(
            f"PredictResult.option is a {type(result.option).__name__}; it must be a dict"
        )
    label = coerce_label(result.label, output_kind)
    score = coerce_score(result.score, output_kind)
    if label is result.label and score is result.score:
        return result  # already what the wire needs: no new object
    return PredictResult(label=label, score=score, option=result.option)


def batch_results(results: Sequence[Any] | None, count: int) -> Sequence[Any]:
    """A ``drucker_predict_batch`` answer, which must hold one result per input."""
    if results is None or len(results) != count:
        raise PluginFailure(
            f"drucker_predict_batch returned {len(results or ())} results for {count} inputs"
        )
    return results


def tensor_result(result: Any, rows: int, output_kind: Kind) -> TensorResult:
    """A ``drucker_predict_tensor`` answer for ``rows`` rows, its labels and scores coerced
    to arrays for ``output_kind`` (see :func:`~drucker.coercion.coerce_labels`)."""
    if not isinstance(result, TensorResult):
        raise PluginFailure(
            f"drucker_predict_tensor returned {type(result).__name__}; it must return "
            "drucker.TensorResult(labels=..., scores=..., option={...})"
        )
    if not isinstance(result.option, dict):
        raise OutputKindError(
            f"TensorResult.option is a {type(result.option).__name__}; it must be a dict"
        )
    labels = coerce_labels(result.labels, rows, output_kind)
    scores = coerce_scores(result.scores, rows, output_kind)
    return TensorResult(labels, scores, result.option)


def split_tensor(answer: TensorResult, sizes: list[int]) -> list[TensorResult]:
    """A tensor answer to requests of ``sizes`` rows (joined in order) cut into their answers."""
    answers: list[TensorResult] = []
    end = 0
    for size in sizes:
        start, end = end, end + size
        answers.append(
            TensorResult(answer.labels[start:end], answer.scores[start:end], answer.option)
        )
    return answers


def evaluation_detail(detail: Any) -> EvaluationDetail:
    """One value a ``drucker_evaluate`` iterable gave."""
    if not isinstance(detail, EvaluationDetail):
        raise PluginFailure(
            f"drucker_evaluate gave a {type(detail).__name__}; it must give "
            "drucker.EvaluationDetail values"
        )
    return detail


def model_signature(declared: Any) -> ModelSignature | None:
    """A ``drucker_signature`` answer (``None``: the plugin declares nothing)."""
    if declared is not None and not isinstance(declared, ModelSignature):
        raise PluginFailure(
            f"drucker_signature returned {type(declared).__name__}; it must return "
            "drucker.ModelSignature"
        )
    return declared
