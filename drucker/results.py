"""Checks of what a plugin's hooks return, beside :mod:`drucker.coercion` which converts it.

Each function takes a hook's raw answer and gives the value the framework passes on, or raises
:class:`~drucker.errors.PluginFailure` (the plugin broke its contract) or
:class:`~drucker.errors.OutputKindError` (the answer does not fit the rpc's output kind).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from drucker.coercion import coerce_label, coerce_labels, coerce_score, coerce_scores
from drucker.errors import OutputKindError, PluginFailure
from drucker.kinds import Kind
from drucker.types import EvaluationDetail, ModelSignature, PredictResult, TensorResult

_STRING = Kind.STRING
_Answer = TypeVar("_Answer", PredictResult, TensorResult)


def _check_answer(result: Any, expected: type[_Answer], hook: str, fields: str) -> _Answer:
    """``result``, refused unless it is an ``expected`` whose option is a dict."""
    name = expected.__name__
    if not isinstance(result, expected):
        raise PluginFailure(
            f"{hook} returned {type(result).__name__}; it must return "
            f"drucker.{name}({fields}, option={{...}})"
        )
    if not isinstance(result.option, dict):
        raise OutputKindError(
            f"{name}.option is a {type(result.option).__name__}; it must be a dict"
        )
    return result


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
    answer = _check_answer(result, PredictResult, "drucker_predict", "label=..., score=...")
    label = coerce_label(answer.label, output_kind)
    score = coerce_score(answer.score, output_kind)
    if label is answer.label and score is answer.score:
        return answer  # already what the wire needs: no new object
    return PredictResult(label=label, score=score, option=answer.option)


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
    answer = _check_answer(result, TensorResult, "drucker_predict_tensor", "labels=..., scores=...")
    labels = coerce_labels(answer.labels, rows, output_kind)
    scores = coerce_scores(answer.scores, rows, output_kind)
    return TensorResult(labels, scores, answer.option)


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
