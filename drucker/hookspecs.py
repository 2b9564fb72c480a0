"""The hooks a drucker plugin can implement.

A plugin is a plain module (or object) with functions marked ``@drucker.hookimpl`` whose names
are the hook names below. As in pytest, an implementation may accept any subset of a hook's
arguments, in any order, by naming them::

    import drucker

    @drucker.hookimpl
    def drucker_load_model(model_path, settings):
        return joblib.load(model_path)

    @drucker.hookimpl
    def drucker_predict(model, input, option, input_kind, output_kind):
        return drucker.PredictResult(label=..., score=..., option={})

Model hooks (``drucker_load_model``, ``drucker_predict``, ``drucker_evaluate``) are answered by
exactly one plugin (the first non-``None`` result wins, and two plugins implementing
``drucker_predict`` are refused at start-up). ``drucker_log`` is a broadcast: every log plugin
sees every record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from drucker.events import LogRecord
    from drucker.kinds import Kind
    from drucker.settings import Settings
    from drucker.types import EvaluationDetail, ModelSignature, PredictResult

PROJECT_NAME = "drucker"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

MODEL_HOOKS = (
    "drucker_load_model",
    "drucker_predict",
    "drucker_predict_batch",
    "drucker_evaluate",
)


@hookspec(firstresult=True)
def drucker_load_model(model_path: str, settings: Settings) -> Any:
    """Load the model stored at ``model_path`` and return it.

    The returned object is passed as ``model`` to the other model hooks. Raise an exception
    when the file is not a usable model: at start-up the server then refuses to start, and on
    a model switch the previous model keeps serving.
    """


@hookspec(firstresult=True)
def drucker_predict(
    model: Any, input: Any, option: dict[str, Any], input_kind: Kind, output_kind: Kind
) -> PredictResult:
    """Predict for one input and return a :class:`drucker.PredictResult`.

    :param model: what ``drucker_load_model`` returned.
    :param input: ``str``, ``bytes``, ``list[int]``, ``list[float]`` or ``list[str]``,
        according to ``input_kind``.
    :param option: the request's option JSON object as a dict (``{}`` when absent).
    :param input_kind: the :class:`drucker.Kind` of the rpc's input.
    :param output_kind: the :class:`drucker.Kind` the label must be given as; the framework
        coerces numpy values, tuples and one-element arrays, and refuses what does not fit.

    Raise ``ValueError`` (or a :class:`drucker.errors.InvalidInputError`) to reject the input:
    the caller then gets ``INVALID_ARGUMENT``; any other exception gives ``INTERNAL``.
    """


@hookspec(firstresult=True)
def drucker_predict_batch(
    model: Any,
    inputs: list[Any],
    options: list[dict[str, Any]],
    input_kind: Kind,
    output_kind: Kind,
) -> list[PredictResult]:
    """Optional: predict many inputs at once, returning one result per input, in order.

    When a plugin implements it, concurrent requests of the same rpc are gathered (adaptive
    batching, see the ``batching.*`` settings) and answered with one call. If it raises, each
    input is retried alone through ``drucker_predict``, so one bad input fails only itself.
    """


@hookspec(firstresult=True)
def drucker_evaluate(model: Any, data_path: str, settings: Settings) -> Iterable[EvaluationDetail]:
    """Evaluate ``model`` on the labelled data stored at ``data_path``.

    Return (preferably yield, so large files stream) one :class:`drucker.EvaluationDetail` per
    sample; the framework computes accuracy and per-class precision, recall and F1 from them.
    """


@hookspec(firstresult=True)
def drucker_signature(model: Any, settings: Settings) -> ModelSignature:
    """Optional: the input and output tensors of ``model``, for Open Inference metadata.

    Without it, ModelMetadata reports one ``input`` tensor (FP32, shape [-1, -1]) and the
    ``label`` (BYTES, [-1]) and ``score`` (FP32, [-1]) outputs.
    """


@hookspec
def drucker_log(record: LogRecord) -> None:
    """Receive one structured log record (a system event or a prediction event).

    Called for every record on every log plugin; must not raise and should be quick, since
    prediction events are emitted on the request path.
    """
