"""The runtime: the only door to the plugins. Owns them, the settings and the active model.

Every hook call of the framework goes through a :class:`Runtime` method, and so does the one
policy for what a plugin's exception becomes (:meth:`Runtime._plugin_error`). The runtime knows
nothing of gRPC, HTTP, metrics or object storage.

Failures are raised *outside* the ``except`` block that caught the plugin's exception, carry no
``__cause__``/``__context__``, and are dropped from the raising frame's locals as they leave it:
the caller's error then holds no traceback of the plugin's frames and no reference cycle through
the frames that hold the request's input, so a failed request frees its input at once instead
of at the next full garbage collection.
"""

from __future__ import annotations

import gc
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np
import pluggy

from drucker.coercion import coerce_label, coerce_labels, coerce_score, coerce_scores
from drucker.errors import (
    DruckerError,
    InvalidInputError,
    ModelLoadError,
    ModelNotLoadedError,
    OutputKindError,
    PluginFailure,
)
from drucker.events import EventLog, PredictionEvent, ServiceIdentity
from drucker.kinds import Kind
from drucker.settings import Settings
from drucker.types import EvaluationDetail, ModelSignature, PredictResult, TensorResult

SUPPRESS_LOG_OPTION = "suppress_log_input"
PREDICT_ARGS = ("model", "input", "option", "input_kind", "output_kind")
BATCH_ARGS = ("model", "inputs", "options", "input_kind", "output_kind")
TENSOR_ARGS = ("model", "inputs", "option", "input_kind", "output_kind")
LOG_ARGS = ("record",)


def positional_caller(caller: pluggy.HookCaller, names: tuple[str, ...]) -> Callable[..., Any]:
    """A function taking the hook's arguments ``names`` in order and calling the hook.

    A hook with exactly one plain implementation (no wrapper) is called directly with the
    arguments it declares, as pluggy would call it: pluggy's own dispatch costs about 5 µs a
    call, as much as a quick model's whole prediction. With several implementations, or
    wrappers, pluggy calls them. The plugins are fixed when the runtime is built.
    """
    impls = caller.get_hookimpls()
    if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
        function = impls[0].function
        wanted = tuple(names.index(name) for name in impls[0].argnames)
        if wanted == tuple(range(len(names))):
            return cast(Callable[..., Any], function)
        return lambda *args: function(*[args[index] for index in wanted])
    return lambda *args: caller(**dict(zip(names, args, strict=True)))


def keyword_caller(caller: pluggy.HookCaller, names: tuple[str, ...]) -> Callable[..., Any]:
    """Like :func:`positional_caller` for a broadcast hook called with keyword arguments
    (every implementation is called, and what they return is ignored)."""
    impls = caller.get_hookimpls()
    if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
        function = impls[0].function
        if impls[0].argnames == names:  # it takes the same keywords
            return cast(Callable[..., Any], function)
        direct = positional_caller(caller, names)
        return lambda **kwargs: direct(*[kwargs[name] for name in names])
    return cast(Callable[..., Any], caller)


@attrs.frozen
class ActiveModel:
    """A loaded model and where it came from. Replaced as a whole on a switch."""

    model: Any
    name: str
    path: str | None
    sha256: str | None = None
    loaded_at: float = attrs.field(factory=time.time)


class Runtime:
    """Holds the one reference to the serving model and runs the plugin hooks.

    Every request reads :attr:`active` once and uses that model to the end, so a switch is a
    single reference assignment and requests in flight finish on the model they started with.
    """

    def __init__(self, plugins: pluggy.PluginManager, settings: Settings) -> None:
        self._plugins = plugins
        self.settings = settings
        hook = plugins.hook
        self.log = EventLog(
            keyword_caller(hook.drucker_log, LOG_ARGS), ServiceIdentity.from_settings(settings)
        )
        self._predict_hook = positional_caller(hook.drucker_predict, PREDICT_ARGS)
        self._batch_hook = positional_caller(hook.drucker_predict_batch, BATCH_ARGS)
        self._tensor_hook = positional_caller(hook.drucker_predict_tensor, TENSOR_ARGS)
        self.has_loader = bool(hook.drucker_load_model.get_hookimpls())
        self.can_batch = bool(hook.drucker_predict_batch.get_hookimpls())
        self.can_predict_tensor = bool(hook.drucker_predict_tensor.get_hookimpls())
        self.can_evaluate = bool(hook.drucker_evaluate.get_hookimpls())
        self._active: ActiveModel | None = None
        hook.drucker_configure(settings=settings)

    # -- the active model --------------------------------------------------------------------

    @property
    def active(self) -> ActiveModel | None:
        """The model serving now, or ``None`` before the first successful load."""
        return self._active

    @property
    def ready(self) -> bool:
        """Whether predictions can be answered."""
        return self._active is not None

    def load_model(self, path: str | Path | None, name: str | None = None) -> ActiveModel:
        """Load a model file through the plugin without activating it.

        A plugin without ``drucker_load_model`` serves without a model file (``model`` is
        ``None``); then ``path`` is ignored.

        :raises ModelLoadError: when the file is missing or the plugin fails or returns nothing.
        """
        if not self.has_loader:
            return ActiveModel(model=None, name=name or "(no model file)", path=None)
        if path is None:
            raise ModelLoadError("no model file given")
        model_path = Path(path)
        if not model_path.is_file():
            raise ModelLoadError(f"model file {model_path} does not exist")
        failure: DruckerError | None = None
        try:
            model = self._plugins.hook.drucker_load_model(
                model_path=str(model_path), settings=self.settings
            )
        except Exception as exc:
            failure = ModelLoadError(
                f"the plugin failed to load {model_path}: {type(exc).__name__}: {exc}"
            )
        if failure is not None:
            try:
                raise failure
            finally:
                del failure  # no cycle through this frame, which holds the input
        if model is None:
            raise ModelLoadError(f"the plugin returned no model for {model_path}")
        return ActiveModel(model=model, name=name or model_path.name, path=str(model_path))

    def activate(self, active: ActiveModel) -> ActiveModel | None:
        """Make ``active`` the serving model; return the one it replaced.

        Replacing a model thaws objects the server froze out of the cyclic garbage collector
        after start-up (``gc.freeze``), so that the replaced model's reference cycles, if it
        has any, are collected once it is no longer used.
        """
        previous, self._active = self._active, active
        if previous is not None:
            gc.unfreeze()
        return previous

    def _serving(self, model: ActiveModel | None) -> ActiveModel:
        active = model or self._active
        if active is None:
            raise ModelNotLoadedError("no model is loaded yet")
        return active

    # -- the one exception policy ------------------------------------------------------------

    def _plugin_error(self, exc: BaseException, action: str, model: str) -> DruckerError:
        """The drucker error for an exception a plugin raised (unexpected ones are logged).

        A :class:`DruckerError` stays itself, ``ValueError`` is the plugin rejecting its input
        (``INVALID_ARGUMENT``), anything else is a failure of the plugin (``INTERNAL``).
        """
        frames = exc.__traceback__
        try:
            if isinstance(exc, DruckerError):
                return _detached(exc)
            if isinstance(exc, ValueError):
                return InvalidInputError(f"the model rejected the input: {exc}")
            self.log.error(
                f"plugin {action} failed: {type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
                model=model,
            )
            return PluginFailure(f"the model failed: {type(exc).__name__}: {exc}")
        finally:
            # The plugin's finished frames (and pluggy's, which hold the exception in a cycle)
            # would keep the request's input alive until a full garbage collection.
            traceback.clear_frames(frames)
            exc.__traceback__ = None
            del frames

    # -- predictions -------------------------------------------------------------------------

    def predict(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> PredictResult:
        """Predict one input with the active model (or ``model``), coerced to ``output_kind``.

        :raises ModelNotLoadedError: when no model is serving.
        :raises InvalidInputError: when the plugin rejects the input (``ValueError``).
        :raises OutputKindError: when the result does not fit ``output_kind``.
        :raises PluginFailure: when the plugin fails otherwise (logged with its traceback).
        """
        active = self._serving(model)
        started = time.perf_counter()
        coerced = self._predict_unlogged(active, value, option, input_kind, output_kind)
        self._log_prediction(value, option, coerced, input_kind, output_kind, started)
        return coerced

    def predict_batch(
        self,
        values: list[Any],
        options: list[dict[str, Any]],
        input_kind: Kind,
        output_kind: Kind,
    ) -> list[PredictResult | DruckerError]:
        """Predict the inputs of many requests in one ``drucker_predict_batch`` call.

        One answer per input, errors in place of results (never raised). When the batch call
        fails, each input is predicted alone, so one bad input fails only its own request.
        """
        active = self._serving(None)
        started = time.perf_counter()
        results = self._call_batch_hook(active, values, options, input_kind, output_kind)
        if isinstance(results, DruckerError):
            return [
                self._predict_or_error(v, o, input_kind, output_kind, active)
                for v, o in zip(values, options, strict=True)
            ]
        answers: list[PredictResult | DruckerError] = []
        for value, option, result in zip(values, options, results, strict=True):
            try:
                coerced = _coerce_result(result, output_kind)
            except DruckerError as error:
                answers.append(_detached(error))
                continue
            self._log_prediction(value, option, coerced, input_kind, output_kind, started)
            answers.append(coerced)
        return answers

    def predict_many(
        self,
        values: list[Any],
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
    ) -> list[PredictResult]:
        """Predict the rows of one request (a V2 tensor): one batch hook call when the plugin
        has one, else one ``drucker_predict`` call per row. Logged as one prediction.

        :raises DruckerError: the first failure; the request fails as a whole.
        """
        active = self._serving(None)
        started = time.perf_counter()
        if self.can_batch:
            options = [option] * len(values)
            batch = self._call_batch_hook(active, values, options, input_kind, output_kind)
            if isinstance(batch, DruckerError):
                try:
                    raise batch
                finally:
                    del batch
            results = [_coerce_result(result, output_kind) for result in batch]
        else:
            results = [
                self._predict_unlogged(active, value, option, input_kind, output_kind)
                for value in values
            ]
        if self.settings.log_predictions:
            self._log_prediction(
                values,
                option,
                PredictResult([r.label for r in results], [r.score for r in results]),
                input_kind,
                output_kind,
                started,
            )
        return results

    def predict_tensor(
        self, rows: Any, option: dict[str, Any], input_kind: Kind, output_kind: Kind
    ) -> TensorResult:
        """Predict every row of a numeric tensor (a 2-d array) with one
        ``drucker_predict_tensor`` call; the answer's labels and scores come back as arrays
        coerced to ``output_kind`` (see :func:`~drucker.coercion.coerce_labels`). Logged as one
        prediction.

        :raises DruckerError: as :meth:`predict` does; the request fails as a whole.
        """
        active = self._serving(None)
        started = time.perf_counter()
        answer = self._tensor_answer(active, rows, option, input_kind, output_kind)
        self._log_tensor(rows, option, answer, input_kind, output_kind, started)
        return answer

    def predict_tensors(
        self,
        parts: list[Any],
        options: list[dict[str, Any]],
        input_kind: Kind,
        output_kind: Kind,
    ) -> list[TensorResult | DruckerError]:
        """Predict the tensors of many requests (2-d arrays of one dtype and width) with one
        ``drucker_predict_tensor`` call on their rows together, called with the first
        request's option (gathered requests have equal options).

        One answer per request, errors in place of answers (never raised), each logged as its
        own prediction. When the call fails, each tensor is predicted alone, so one bad request
        fails only itself.
        """
        active = self._serving(None)
        if len(parts) == 1:
            return [self._tensor_or_error(active, parts[0], options[0], input_kind, output_kind)]
        started = time.perf_counter()
        rows = np.concatenate(parts)
        rows.flags.writeable = False  # as a lone request's rows are
        try:
            answer = self._tensor_answer(active, rows, options[0], input_kind, output_kind)
        except DruckerError:
            return [
                self._tensor_or_error(active, part, option, input_kind, output_kind)
                for part, option in zip(parts, options, strict=True)
            ]
        del rows
        answers: list[TensorResult | DruckerError] = []
        end = 0
        for part, option in zip(parts, options, strict=True):
            start, end = end, end + len(part)
            mine = TensorResult(answer.labels[start:end], answer.scores[start:end], answer.option)
            self._log_tensor(part, option, mine, input_kind, output_kind, started)
            answers.append(mine)
        return answers

    def _tensor_or_error(
        self,
        active: ActiveModel,
        rows: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
    ) -> TensorResult | DruckerError:
        started = time.perf_counter()
        try:
            answer = self._tensor_answer(active, rows, option, input_kind, output_kind)
        except DruckerError as error:
            return _detached(error)
        self._log_tensor(rows, option, answer, input_kind, output_kind, started)
        return answer

    def _tensor_answer(
        self,
        active: ActiveModel,
        rows: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
    ) -> TensorResult:
        """The plugin's tensor answer for ``rows``, checked and coerced (raises)."""
        result = self._call_plugin(
            self._tensor_hook, "predict_tensor", active, rows, option, input_kind, output_kind
        )
        if not isinstance(result, TensorResult):
            raise PluginFailure(
                f"drucker_predict_tensor returned {type(result).__name__}; it must return "
                "drucker.TensorResult(labels=..., scores=..., option={...})"
            )
        if not isinstance(result.option, dict):
            raise OutputKindError(
                f"TensorResult.option is a {type(result.option).__name__}; it must be a dict"
            )
        labels = coerce_labels(result.labels, len(rows), output_kind)
        scores = coerce_scores(result.scores, len(rows), output_kind)
        return TensorResult(labels, scores, result.option)

    def _log_tensor(
        self,
        rows: Any,
        option: dict[str, Any],
        answer: TensorResult,
        input_kind: Kind,
        output_kind: Kind,
        started: float,
    ) -> None:
        if self.settings.log_predictions:
            logged = PredictResult(answer.labels.tolist(), answer.scores.tolist())
            self._log_prediction(rows, option, logged, input_kind, output_kind, started)

    def _predict_unlogged(
        self,
        active: ActiveModel,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
    ) -> PredictResult:
        result = self._call_plugin(
            self._predict_hook, "predict", active, value, option, input_kind, output_kind
        )
        return _coerce_result(result, output_kind)

    def _call_plugin(
        self, hook: Callable[..., Any], action: str, active: ActiveModel, *args: Any
    ) -> Any:
        """``hook(active.model, *args)``; what the plugin raises is raised as its drucker
        error (:meth:`_plugin_error`), outside the ``except`` block."""
        failure: DruckerError | None = None
        try:
            return hook(active.model, *args)
        except Exception as exc:
            failure = self._plugin_error(exc, action, active.name)
        try:
            raise failure
        finally:
            del failure  # no cycle through this frame, which holds the input

    def _call_batch_hook(
        self,
        active: ActiveModel,
        values: list[Any],
        options: list[dict[str, Any]],
        input_kind: Kind,
        output_kind: Kind,
    ) -> list[Any] | DruckerError:
        """The plugin's batch results, or the error its call became (returned, not raised)."""
        try:
            results = self._batch_hook(active.model, values, options, input_kind, output_kind)
        except Exception as exc:
            return self._plugin_error(exc, "predict_batch", active.name)
        if results is None or len(results) != len(values):
            return PluginFailure(
                f"drucker_predict_batch returned {len(results or ())} results "
                f"for {len(values)} inputs"
            )
        return list(results)

    def _predict_or_error(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        active: ActiveModel,
    ) -> PredictResult | DruckerError:
        try:
            return self.predict(value, option, input_kind, output_kind, active)
        except DruckerError as error:
            return _detached(error)

    def _log_prediction(
        self,
        value: Any,
        option: dict[str, Any],
        result: PredictResult,
        input_kind: Kind,
        output_kind: Kind,
        started: float,
    ) -> None:
        if not self.settings.log_predictions:
            return
        suppressed = bool(option.get(SUPPRESS_LOG_OPTION, False))
        self.log.emit(
            PredictionEvent(
                service=self.log.service,
                input_kind=input_kind.wire_name,
                output_kind=output_kind.wire_name,
                input=None if suppressed else value,
                output=None if suppressed else result.label,
                score=None if suppressed else result.score,
                suppressed=suppressed,
                latency_seconds=time.perf_counter() - started,
            )
        )

    # -- evaluation and metadata -------------------------------------------------------------

    def evaluate(self, data_path: str | Path) -> Iterator[EvaluationDetail]:
        """The serving model's evaluation details for the labelled data at ``data_path``.

        The plugin's details stream through; its exceptions (also those raised while
        iterating) become drucker errors by the same policy as predictions.

        :raises ModelNotLoadedError: when no model is serving.
        :raises PluginFailure: when the plugin implements no ``drucker_evaluate``.
        """
        active = self._serving(None)
        if not self.can_evaluate:
            raise PluginFailure("the model plugin does not implement drucker_evaluate")
        return self._evaluation(active, str(data_path))

    def _evaluation(self, active: ActiveModel, data_path: str) -> Iterator[EvaluationDetail]:
        failure: DruckerError | None = None
        try:
            details: Iterable[EvaluationDetail] | None = self._plugins.hook.drucker_evaluate(
                model=active.model, data_path=data_path, settings=self.settings
            )
            for detail in details or ():
                if not isinstance(detail, EvaluationDetail):
                    failure = PluginFailure(
                        f"drucker_evaluate gave a {type(detail).__name__}; it must give "
                        "drucker.EvaluationDetail values"
                    )
                    break
                yield detail
        except Exception as exc:
            failure = self._plugin_error(exc, "evaluate", active.name)
        if failure is not None:
            try:
                raise failure
            finally:
                del failure  # no cycle through this frame, which holds the input

    def signature(self, model: ActiveModel | None = None) -> ModelSignature | None:
        """What the serving model (or ``model``) declares through ``drucker_signature``.

        ``None`` when no model serves or the plugin declares nothing.

        :raises PluginFailure: when the hook fails or returns something else.
        """
        active = model or self._active
        if active is None:
            return None
        failure: DruckerError | None = None
        try:
            declared = self._plugins.hook.drucker_signature(
                model=active.model, settings=self.settings
            )
        except Exception as exc:
            failure = self._plugin_error(exc, "signature", active.name)
        if failure is not None:
            try:
                raise failure
            finally:
                del failure  # no cycle through this frame, which holds the input
        if declared is not None and not isinstance(declared, ModelSignature):
            raise PluginFailure(
                f"drucker_signature returned {type(declared).__name__}; it must return "
                "drucker.ModelSignature"
            )
        return declared


def system_event_log(plugins: pluggy.PluginManager, settings: Settings) -> EventLog:
    """An event log over ``plugins`` for a process that serves no model (the supervisor)."""
    plugins.hook.drucker_configure(settings=settings)
    return EventLog(plugins.hook.drucker_log, ServiceIdentity.from_settings(settings))


def _detached(error: DruckerError) -> DruckerError:
    """``error`` without the traceback and chained exceptions that would keep frames alive."""
    traceback.clear_frames(error.__traceback__)
    error.__traceback__ = None
    error.__cause__ = error.__context__ = None
    return error


def _coerce_result(result: Any, output_kind: Kind) -> PredictResult:
    if (  # the common case, checked first: nothing to convert for a String answer
        output_kind is Kind.STRING
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
