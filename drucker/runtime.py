"""The runtime: the only door to the plugins. Owns them, the settings and the loaded models.

Every hook call goes through a :class:`Runtime` method, and so does the one policy for what a
plugin's exception becomes (:meth:`Runtime._plugin_error`): every failure is raised as a
:class:`~drucker.errors.DruckerError` (the batcher decides what a shared call's failure means for
each request in it). The runtime knows nothing of gRPC, HTTP, metrics or object storage. Names say
how much one call predicts: ``predict`` one row, ``predict_rows`` the rows of one request,
``predict_requests`` one row each of many requests, ``predict_tensor`` one request's numeric
tensor, ``predict_tensor_requests`` the tensors of many requests.

Failures are raised outside the ``except`` block that caught the plugin's exception, detached from
its frames (:func:`~drucker.frames.detach`) and dropped from the raising frame's locals: a failed
request frees its input at once, not at the next full garbage collection.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from drucker import results as check
from drucker.errors import (
    DruckerError,
    InvalidInputError,
    ModelLoadError,
    ModelNotLoadedError,
    PluginFailure,
)
from drucker.events import EventLog, ServiceIdentity
from drucker.frames import detach
from drucker.hookcall import keyword_caller, positional_caller
from drucker.kinds import Kind
from drucker.plugins import with_model_plugin
from drucker.records import SUPPRESS_LOG_OPTION, PredictionRecords
from drucker.registry import ActiveModel, ModelRegistry
from drucker.settings import Settings
from drucker.types import EvaluationDetail, ModelSignature, PredictResult, TensorResult

__all__ = ["SUPPRESS_LOG_OPTION", "ActiveModel", "Runtime"]

Options = list[dict[str, Any]]
Thaw = Callable[[], None]  # called when a model is replaced


class Runtime:
    """Holds the loaded models (:attr:`models`) and runs the plugin hooks.

    :attr:`active` is the serving version of the default model (named after ``app.name``), the
    one a one-model server serves. Every request reads it once and uses that model to the end:
    a switch is one reference assignment, requests in flight finish on the model they started
    with. ``thaw`` is called when a model is replaced (the server's memory policy).
    """

    def __init__(
        self, plugins: pluggy.PluginManager, settings: Settings, *, thaw: Thaw | None = None
    ) -> None:
        self._plugins = plugins
        self.settings = settings
        self.name = settings.application_name
        self.models = ModelRegistry()
        self.active: ActiveModel | None = None  # the default model's serving version
        # Why no model serves, when the server knows (it started without one): the message of
        # every refused prediction and of the not-ready answers, while ``active`` is None.
        self.not_loaded_reason: str | None = None
        self.thaw = thaw  # called when a model is replaced or unloaded
        hook = plugins.hook
        identity = ServiceIdentity.from_settings(settings)
        self.log = EventLog(keyword_caller(hook.drucker_log), identity)
        self._records = PredictionRecords(self.log) if settings.log_predictions else None
        self._predict_hook = positional_caller(hook.drucker_predict)
        self._batch_hook = positional_caller(hook.drucker_predict_batch)
        self._tensor_hook = positional_caller(hook.drucker_predict_tensor)
        self.has_loader = bool(hook.drucker_load_model.get_hookimpls())
        self.can_batch = bool(hook.drucker_predict_batch.get_hookimpls())
        self.can_predict_tensor = bool(hook.drucker_predict_tensor.get_hookimpls())
        self.can_evaluate = bool(hook.drucker_evaluate.get_hookimpls())
        hook.drucker_configure(settings=settings)

    def sibling(self, settings: Settings, plugin: str | object | None = None) -> Runtime:
        """Another model's runtime (own settings); ``plugin`` replaces the model plugin if given."""
        plugins = self._plugins if plugin is None else with_model_plugin(self._plugins, plugin)
        return Runtime(plugins, settings, thaw=self.thaw)

    @property
    def ready(self) -> bool:
        """Whether predictions can be answered."""
        return self.active is not None

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
            detach(exc)
        if failure is not None:
            try:
                raise failure
            finally:
                del failure  # no cycle through this frame, which holds the input
        if model is None:
            raise ModelLoadError(f"the plugin returned no model for {model_path}")
        return ActiveModel(model=model, name=name or model_path.name, path=str(model_path))

    def activate(self, active: ActiveModel) -> ActiveModel | None:
        """Make ``active`` the serving version of the default model; return the one it
        replaced (no longer held by the registry), after which ``thaw`` is called."""
        previous = self.models.serve(self.name, active)
        self.active = active
        if previous is not None:
            if previous.name != active.name:
                self.models.remove(self.name, previous.name)
            if self.thaw is not None:
                self.thaw()
        return previous

    def _serving(self) -> ActiveModel:
        if (active := self.active) is None:
            reason = self.not_loaded_reason
            raise ModelNotLoadedError(
                f"not ready: {reason}" if reason else "no model is loaded yet"
            )
        return active

    def _plugin_error(self, exc: BaseException, action: str, model: str) -> DruckerError:
        """The drucker error for an exception a plugin raised (unexpected ones are logged).

        A :class:`DruckerError` stays itself, ``ValueError`` is the plugin rejecting its input
        (``INVALID_ARGUMENT``), anything else is a failure of the plugin (``INTERNAL``). The
        plugin's finished frames (and pluggy's, which hold the exception in a cycle) are
        dropped: they would keep the request's input alive until a full garbage collection.
        """
        try:
            if isinstance(exc, DruckerError):
                return exc
            if isinstance(exc, ValueError):
                return InvalidInputError(f"the model rejected the input: {exc}")
            self.log.error(
                f"plugin {action} failed: {type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
                model=model,
            )
            return PluginFailure(f"the model failed: {type(exc).__name__}: {exc}")
        finally:
            detach(exc)

    def _call(self, hook: Callable[..., Any], action: str, active: ActiveModel, *args: Any) -> Any:
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

    # -- predictions -------------------------------------------------------------------------

    def predict(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> PredictResult:
        """Predict one row with the serving model (or ``model``), coerced to ``output_kind``.

        :raises DruckerError: ``ModelNotLoadedError`` when no model serves, ``InvalidInputError``
            when the plugin rejects the input (``ValueError``), ``OutputKindError`` when the
            result does not fit, ``PluginFailure`` otherwise (logged with its traceback).
        """
        active = model or self._serving()
        started = time.perf_counter()
        # The hot path, flattened: the hook call of _call without its frame.
        failure: DruckerError | None = None
        try:
            result = self._predict_hook(active.model, value, option, input_kind, output_kind)
        except Exception as exc:
            failure = self._plugin_error(exc, "predict", active.name)
        if failure is not None:
            try:
                raise failure
            finally:
                del failure  # no cycle through this frame, which holds the input
        coerced = check.predict_result(result, output_kind)
        records = self._records
        if records is not None:
            records.row(value, option, coerced, input_kind, output_kind, started)
        return coerced

    def predict_rows(
        self,
        values: list[Any],
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> list[PredictResult]:
        """Predict the rows of one request (a V2 tensor) with the serving model (or ``model``):
        one batch hook call when the plugin has one, else one ``drucker_predict`` call per
        row. Logged as one prediction.

        :raises DruckerError: the first failure; the request fails as a whole.
        """
        active = model or self._serving()
        started = time.perf_counter()
        if self.can_batch:
            options = [option] * len(values)
            results = [
                check.predict_result(result, output_kind)
                for result in self._batch(active, values, options, input_kind, output_kind)
            ]
        else:
            hook = self._predict_hook
            results = [
                check.predict_result(
                    self._call(hook, "predict", active, value, option, input_kind, output_kind),
                    output_kind,
                )
                for value in values
            ]
        if self._records is not None:
            self._records.rows(values, option, results, input_kind, output_kind, started)
        return results

    def predict_requests(
        self,
        values: list[Any],
        options: Options,
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> list[PredictResult]:
        """Predict one row each of many requests in one ``drucker_predict_batch`` call (with
        the serving model, or ``model``); each answer is logged as its own prediction.

        :raises DruckerError: when the call fails or any answer does not fit (the batcher then
            predicts each request alone, so that one bad input fails only its own request).
        """
        active = model or self._serving()
        started = time.perf_counter()
        raw = self._batch(active, values, options, input_kind, output_kind)
        results = [check.predict_result(result, output_kind) for result in raw]
        if self._records is not None:
            for value, option, result in zip(values, options, results, strict=True):
                self._records.row(value, option, result, input_kind, output_kind, started)
        return results

    def _batch(self, active: ActiveModel, *args: Any) -> Iterable[Any]:
        """The plugin's answers to ``(values, options, input_kind, output_kind)``, one per
        value (raises)."""
        results = self._call(self._batch_hook, "predict_batch", active, *args)
        return check.batch_results(results, len(args[0]))

    def predict_tensor(
        self,
        rows: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> TensorResult:
        """Predict every row of one request's numeric tensor (a 2-d array) with one
        ``drucker_predict_tensor`` call (the serving model, or ``model``); labels and scores
        come back as arrays coerced to ``output_kind``. Logged as one prediction.

        :raises DruckerError: as :meth:`predict` does; the request fails as a whole.
        """
        active = model or self._serving()
        started = time.perf_counter()
        answer = self._tensor(active, rows, option, input_kind, output_kind)
        if self._records is not None:
            self._records.tensor(rows, option, answer, input_kind, output_kind, started)
        return answer

    def predict_tensor_requests(
        self,
        parts: list[Any],
        options: Options,
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> list[TensorResult]:
        """Predict the tensors of many requests (2-d arrays of one dtype and width) with one
        ``drucker_predict_tensor`` call on their rows together, called with the first
        request's option (gathered requests have equal options); one answer per request, each
        logged as its own prediction.

        :raises DruckerError: when the call fails (the batcher then predicts each alone).
        """
        if len(parts) == 1:
            return [self.predict_tensor(parts[0], options[0], input_kind, output_kind, model)]
        active = model or self._serving()
        started = time.perf_counter()
        rows = np.concatenate(parts)
        rows.flags.writeable = False  # as a lone request's rows are
        answer = self._tensor(active, rows, options[0], input_kind, output_kind)
        del rows
        answers = check.split_tensor(answer, [len(part) for part in parts])
        if self._records is not None:
            for part, option, mine in zip(parts, options, answers, strict=True):
                self._records.tensor(part, option, mine, input_kind, output_kind, started)
        return answers

    def _tensor(self, active: ActiveModel, *args: Any) -> TensorResult:
        """The plugin's checked answer to ``(rows, option, input_kind, output_kind)``."""
        result = self._call(self._tensor_hook, "predict_tensor", active, *args)
        return check.tensor_result(result, len(args[0]), args[3])

    # -- evaluation and metadata -------------------------------------------------------------

    def evaluate(self, data_path: str | Path) -> Iterator[EvaluationDetail]:
        """The serving model's evaluation details for the labelled data at ``data_path``; the
        plugin's exceptions (also while iterating) become drucker errors as predictions' do.

        :raises DruckerError: no model serves, or the plugin implements no ``drucker_evaluate``.
        """
        active = self._serving()
        if not self.can_evaluate:
            raise PluginFailure("the model plugin does not implement drucker_evaluate")
        return self._evaluation(active, str(data_path))

    def _evaluation(self, active: ActiveModel, data_path: str) -> Iterator[EvaluationDetail]:
        failure: DruckerError | None = None
        try:
            details: Iterable[Any] | None = self._plugins.hook.drucker_evaluate(
                model=active.model, data_path=data_path, settings=self.settings
            )
            for detail in details or ():
                yield check.evaluation_detail(detail)
        except Exception as exc:
            failure = self._plugin_error(exc, "evaluate", active.name)
        if failure is not None:
            try:
                raise failure
            finally:
                del failure  # no cycle through this frame, which holds the input

    def signature(self, model: ActiveModel | None = None) -> ModelSignature | None:
        """What the serving model (or ``model``) declares through ``drucker_signature``
        (``None`` when no model serves or the plugin declares nothing).

        :raises PluginFailure: when the hook fails or returns something else.
        """
        if (active := model or self.active) is None:
            return None
        hook, settings = self._plugins.hook.drucker_signature, self.settings
        declared = self._call(lambda m: hook(model=m, settings=settings), "signature", active)
        return check.model_signature(declared)
