"""The runtime: owns the plugins, the settings and the active model; knows nothing of gRPC."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import attrs
import pluggy

from drucker.coercion import coerce_label, coerce_score
from drucker.errors import (
    DruckerError,
    InvalidInputError,
    ModelLoadError,
    ModelNotLoadedError,
    OutputKindError,
    PluginFailure,
)
from drucker.events import EventLog, PredictionEvent
from drucker.kinds import Kind
from drucker.settings import Settings
from drucker.types import PredictResult

SUPPRESS_LOG_OPTION = "suppress_log_input"


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

    def __init__(self, plugins: pluggy.PluginManager, settings: Settings, log: EventLog) -> None:
        self.plugins = plugins
        self.settings = settings
        self.log = log
        self._active: ActiveModel | None = None
        self._predict = plugins.hook.drucker_predict
        self._has_loader = bool(plugins.hook.drucker_load_model.get_hookimpls())

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

        :raises ModelLoadError: when the file is missing or the plugin fails or returns nothing.
        """
        if not self._has_loader:
            return ActiveModel(model=None, name=name or "(no model file)", path=None)
        if path is None:
            raise ModelLoadError("no model file given")
        model_path = Path(path)
        if not model_path.is_file():
            raise ModelLoadError(f"model file {model_path} does not exist")
        try:
            model = self.plugins.hook.drucker_load_model(
                model_path=str(model_path), settings=self.settings
            )
        except Exception as exc:
            raise ModelLoadError(
                f"the plugin failed to load {model_path}: {type(exc).__name__}: {exc}"
            ) from exc
        if model is None:
            raise ModelLoadError(f"the plugin returned no model for {model_path}")
        return ActiveModel(model=model, name=name or model_path.name, path=str(model_path))

    def activate(self, active: ActiveModel) -> ActiveModel | None:
        """Make ``active`` the serving model; return the one it replaced."""
        previous, self._active = self._active, active
        return previous

    @property
    def can_batch(self) -> bool:
        """Whether the plugin implements ``drucker_predict_batch``."""
        return bool(self.plugins.hook.drucker_predict_batch.get_hookimpls())

    def _serving(self, model: ActiveModel | None) -> ActiveModel:
        active = model or self._active
        if active is None:
            raise ModelNotLoadedError("no model is loaded yet")
        return active

    def _plugin_error(self, exc: Exception, active: ActiveModel) -> DruckerError:
        """The drucker error for an exception a plugin raised (failures are logged)."""
        if isinstance(exc, DruckerError):
            return exc
        if isinstance(exc, ValueError):
            return InvalidInputError(f"the model rejected the input: {exc}")
        self.log.error(
            f"plugin predict failed: {type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
            model=active.name,
        )
        return PluginFailure(f"the model failed: {type(exc).__name__}: {exc}")

    def predict(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        model: ActiveModel | None = None,
    ) -> PredictResult:
        """Predict with the active model (or ``model``) and coerce the result to ``output_kind``.

        :raises ModelNotLoadedError: when no model is serving.
        :raises InvalidInputError: when the plugin rejects the input (``ValueError``).
        :raises OutputKindError: when the result does not fit ``output_kind``.
        :raises PluginFailure: when the plugin fails otherwise (logged with its traceback).
        """
        active = self._serving(model)
        started = time.perf_counter()
        try:
            result = self._predict(
                model=active.model,
                input=value,
                option=option,
                input_kind=input_kind,
                output_kind=output_kind,
            )
        except Exception as exc:
            raise self._plugin_error(exc, active) from exc
        return self._finish(value, option, result, input_kind, output_kind, started)

    def predict_batch(
        self,
        values: list[Any],
        options: list[dict[str, Any]],
        input_kind: Kind,
        output_kind: Kind,
    ) -> list[PredictResult | DruckerError]:
        """Predict many inputs in one ``drucker_predict_batch`` call; one answer per input.

        When the batch call fails, each input is predicted alone, so one bad input fails
        only its own request. Errors are returned in place of results, not raised.
        """
        active = self._serving(None)
        started = time.perf_counter()
        try:
            results = self.plugins.hook.drucker_predict_batch(
                model=active.model,
                inputs=values,
                options=options,
                input_kind=input_kind,
                output_kind=output_kind,
            )
            if results is None or len(results) != len(values):
                raise PluginFailure(
                    f"drucker_predict_batch returned {len(results or ())} results "
                    f"for {len(values)} inputs"
                )
        except Exception:
            return [
                self._predict_or_error(v, o, input_kind, output_kind, active)
                for v, o in zip(values, options, strict=True)
            ]
        answers: list[PredictResult | DruckerError] = []
        for value, option, result in zip(values, options, results, strict=True):
            try:
                answers.append(
                    self._finish(value, option, result, input_kind, output_kind, started)
                )
            except DruckerError as error:
                answers.append(error)
        return answers

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
            return error

    def _finish(
        self,
        value: Any,
        option: dict[str, Any],
        result: Any,
        input_kind: Kind,
        output_kind: Kind,
        started: float,
    ) -> PredictResult:
        coerced = _coerce_result(result, output_kind)
        if self.settings.log_predictions:
            suppressed = bool(option.get(SUPPRESS_LOG_OPTION, False))
            self.log.emit(
                PredictionEvent(
                    service=self.log.service,
                    input_kind=input_kind.wire_name,
                    output_kind=output_kind.wire_name,
                    input=None if suppressed else value,
                    output=None if suppressed else coerced.label,
                    score=None if suppressed else coerced.score,
                    suppressed=suppressed,
                    latency_seconds=time.perf_counter() - started,
                )
            )
        return coerced


def _coerce_result(result: Any, output_kind: Kind) -> PredictResult:
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
    return PredictResult(
        label=coerce_label(result.label, output_kind),
        score=coerce_score(result.score, output_kind),
        option=result.option,
    )
