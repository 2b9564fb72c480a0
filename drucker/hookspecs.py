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

Two kinds of plugins implement them:

- the **model plugin**, named with ``drucker serve --plugin NAME`` (a module name, a ``.py``
  file, or an entry point of the ``drucker.models`` group), implements the model hooks
  (``drucker_load_model``, ``drucker_predict``, ``drucker_predict_batch``,
  ``drucker_predict_tensor``, ``drucker_evaluate``, ``drucker_signature``). They are *first
  result wins* hooks: one plugin answers; returning ``None`` means "no answer" (for
  ``drucker_signature``: nothing declared; for the others it is an error). Two plugins
  implementing the same model hook are refused at start-up;
- **additive plugins** (log sinks, exporters) are loaded automatically from the
  ``drucker.plugins`` entry-point group, as pytest loads ``pytest11``, and can be disabled with
  ``drucker serve -p no:NAME``. They implement the broadcast hooks ``drucker_configure`` and
  ``drucker_log``: every plugin is called, return values are ignored.

A plugin implementing a hook name that is not below (say a misspelled ``drucker_evaluat``) is
refused at start-up with the known names.

Every hook here exists since drucker 0.5.0, the first release of this framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import numpy as np

    from drucker.events import LogRecord
    from drucker.kinds import Kind
    from drucker.settings import Settings
    from drucker.types import EvaluationDetail, ModelSignature, PredictResult, TensorResult

PROJECT_NAME = "drucker"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

MODEL_HOOKS = (
    "drucker_load_model",
    "drucker_predict",
    "drucker_predict_batch",
    "drucker_predict_tensor",
    "drucker_evaluate",
    "drucker_signature",
)


@hookspec
def drucker_configure(settings: Settings) -> None:
    """Called once on every plugin when the service starts, with its settings.

    Broadcast (return values are ignored); for additive plugins that follow settings such as
    ``log.level``. Optional.
    """


@hookspec(firstresult=True)
def drucker_load_model(model_path: str, settings: Settings) -> Any:
    """Load the model stored at ``model_path`` and return it (first result wins).

    The returned object is passed as ``model`` to the other model hooks. Raise an exception
    when the file is not a usable model: at start-up the server then refuses to start, and on
    a model switch the previous model keeps serving; returning ``None`` counts as such a
    failure. Optional: a plugin without it serves with ``model=None`` and no model file.
    """


@hookspec(firstresult=True)
def drucker_predict(
    model: Any, input: Any, option: dict[str, Any], input_kind: Kind, output_kind: Kind
) -> PredictResult:
    """Predict for one input and return a :class:`drucker.PredictResult` (first result wins).

    Required: the one hook every model plugin implements. Returning ``None`` is an error
    (``INTERNAL``); a ``(label, score)`` tuple is accepted for a result.

    :param model: what ``drucker_load_model`` returned.
    :param input: ``str`` or ``bytes``, or for the array kinds of the Drucker protocol a
        list-like sequence of ``int``, ``float`` or ``str`` (the request's repeated field:
        ``len``, indexing, iteration, ``==`` with a list, ``numpy.asarray``; ``list(input)``
        makes a list), according to ``input_kind``. V2 tensor rows are lists.
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
    batching, see the ``batching.*`` settings) and answered with one call, and a multi-row V2
    tensor is answered with one call (unless the plugin has ``drucker_predict_tensor``, which
    numeric tensors go to). If it raises for gathered requests, each input is
    retried alone through ``drucker_predict``, so one bad input fails only itself; for one
    tensor the request fails. Returning ``None`` or a list of another length is an error.
    ``options`` holds each input's request option (the same dict for the rows of a tensor).
    """


@hookspec(firstresult=True)
def drucker_predict_tensor(
    model: Any,
    inputs: np.ndarray,
    option: dict[str, Any],
    input_kind: Kind,
    output_kind: Kind,
) -> TensorResult:
    """Optional: predict every row of a numeric V2 tensor in one call, as arrays.

    ``inputs`` is the request's tensor as a read-only 2-d numpy array (one row per sample, in
    the wire's dtype: ``float32`` for ``FP32``, ``int64`` for ``INT64``, ``bool`` for ``BOOL``;
    a 1-d tensor is one row); ``input_kind`` is :attr:`Kind.ARR_FLOAT` or :attr:`Kind.ARR_INT`.
    Return a :class:`drucker.TensorResult` with one label and one score per row (a row of them
    for the array output kinds). No per-row Python objects are made on this path, which is why
    it is the fastest way to answer multi-row tensors; plugins without it are called through
    ``drucker_predict_batch`` (or ``drucker_predict``) with the rows as lists. Errors are as
    ``drucker_predict``'s; the request fails as a whole.
    """


@hookspec(firstresult=True)
def drucker_evaluate(model: Any, data_path: str, settings: Settings) -> Iterable[EvaluationDetail]:
    """Evaluate ``model`` on the labelled data stored at ``data_path`` (first result wins).

    Return (preferably yield, so large files stream) one :class:`drucker.EvaluationDetail` per
    sample; the framework computes accuracy and per-class precision, recall and F1 from them.
    Raise ``ValueError`` for data the plugin cannot read (``INVALID_ARGUMENT``). Optional:
    without it, evaluation rpcs answer ``INTERNAL`` with that reason.
    """


@hookspec(firstresult=True)
def drucker_signature(model: Any, settings: Settings) -> ModelSignature:
    """Optional: the input and output tensors of ``model`` (first result wins).

    Drives the Open Inference (V2) protocol: ``ModelMetadata`` reports it, a ``BYTES`` input
    declared with ``content_type="str"`` reaches ``drucker_predict`` as text
    (:attr:`Kind.STRING` / :attr:`Kind.ARR_STRING`), and the ``label`` output's datatype picks
    the output kind and the answer's datatype when the request names none. Returning ``None``
    (or not implementing it) means the default: one ``input`` tensor (FP32, shape [-1, -1]),
    the ``label`` (BYTES, [-1]) and ``score`` (FP32, [-1]) outputs.
    """


@hookspec
def drucker_log(record: LogRecord) -> None:
    """Receive one structured log record (a system event or a prediction event).

    Called for every record on every log plugin; must not raise and should be quick, since
    prediction events are emitted on the request path. A prediction answered by
    ``drucker_predict_tensor`` carries its rows as the numpy array the plugin got, and its
    labels and scores as lists.
    """
