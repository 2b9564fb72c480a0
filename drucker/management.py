"""Model management over the runtime: stored models and data, switches, evaluations.

Knows files and the runtime, not gRPC; the dashboard servicer translates to and from the wire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from drucker.errors import DruckerError, InvalidInputError, ModelLoadError
from drucker.evaluation import EvaluationMetrics, MetricsAccumulator
from drucker.kinds import Kind
from drucker.runtime import ActiveModel, Runtime
from drucker.store.files import FileStore, Upload
from drucker.store.results import ResultStore

RESULTS_DIRECTORY = ".results"  # a name no upload can take (names start with a letter or digit)


def _smoke_kind(value: Any) -> Kind:
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return Kind.ARR_STRING
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return Kind.ARR_INT if all(isinstance(v, int) for v in value) else Kind.ARR_FLOAT
    raise InvalidInputError(f"management.smoke_input {value!r} is not a usable input")


class ModelManager:
    """Uploads, switches and evaluations for one runtime; at most one switch at a time."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.models = FileStore(settings.model_store_dir, "model")
        self.data = FileStore(settings.eval_store_dir, "evaluation data")
        self.results = ResultStore(settings.eval_store_dir / RESULTS_DIRECTORY)
        self._switching = threading.Lock()
        self._smoke = json.loads(settings.smoke_input) if settings.smoke_input else None
        self._unfollowable: str | None = None

    def begin_model_upload(self, name: str) -> Upload:
        """Start receiving a model file (the serving model's name and file are refused)."""
        return self.models.begin(
            name, self.runtime.settings.max_upload_bytes, serving=self._serving_path
        )

    def _serving_path(self) -> str | None:
        active = self.runtime.active
        return active.path if active is not None else None

    def begin_data_upload(self, name: str) -> Upload:
        """Start receiving an evaluation data file."""
        return self.data.begin(name, self.runtime.settings.max_upload_bytes, replace_active=True)

    def choose_initial_model(self, explicit: str | None) -> tuple[Path, str, str]:
        """The model to serve at start-up: path, name and why it was chosen.

        The store's active model (the last successful switch) wins over ``--model`` and the
        settings, as Drucker 0.4.5's model assignment did.
        """
        active = self.models.active
        if active is not None:
            return self.models.path(active), active, "the last model switched to (model store)"
        if explicit is not None:
            return Path(explicit), Path(explicit).name, "given with --model"
        path = self.runtime.settings.default_model_path
        return path, path.name, "from the settings (app.modeldir/app.name/app.modelfile)"

    def load_initial(self, explicit: str | None) -> ActiveModel:
        """Load and activate the start-up model, falling back from a broken store entry."""
        log = self.runtime.log
        path, name, reason = self.choose_initial_model(explicit)
        try:
            active = self._load(path, name)
        except ModelLoadError as error:
            if self.models.active is None:
                raise
            log.error(f"the stored active model {name} cannot be loaded: {error}")
            fallback = Path(explicit) if explicit else self.runtime.settings.default_model_path
            path, name, reason = fallback, fallback.name, "fallback to the configured model"
            active = self._load(path, name)
        self.runtime.activate(active)
        log.info(f"loaded model {name} ({reason})", model_path=str(path), sha256=active.sha256)
        return active

    def _load(self, path: Path, name: str) -> ActiveModel:
        active = self.runtime.load_model(path, name)
        try:
            sha256 = self.models.get(name).sha256 if path.parent == self.models.directory else None
        except DruckerError:
            sha256 = None
        return ActiveModel(active.model, active.name, active.path, sha256, active.loaded_at)

    def switch(self, name: str) -> ActiveModel:
        """Load a stored model, smoke-test it, make it serve and persist the choice.

        Any failure leaves the current model serving and raises a :class:`DruckerError`.
        """
        with self._switching:
            stored = self.models.get(name)
            candidate = self._load(self.models.path(name), stored.name)
            if self._smoke is not None:
                self._smoke_test(candidate)
            previous = self.runtime.activate(candidate)
            self.models.set_active(name)
        self.runtime.log.info(
            f"switched to model {name}",
            previous=previous.name if previous else None,
            sha256=candidate.sha256,
        )
        return candidate

    def follow_store(self) -> ActiveModel | None:
        """Switch to the store's active model if another process switched to it.

        Returns the newly loaded model, or ``None`` when nothing changed.
        """
        name = self.models.active
        current = self.runtime.active
        if name is None or name == self._unfollowable or (current and current.name == name):
            return None
        with self._switching:
            try:
                candidate = self._load(self.models.path(name), name)
            except DruckerError:
                self._unfollowable = name  # reported once, not every poll
                raise
            previous = self.runtime.activate(candidate)
        self.runtime.log.info(
            f"switched to model {name}, following another worker",
            previous=previous.name if previous else None,
        )
        return candidate

    def _smoke_test(self, candidate: ActiveModel) -> None:
        kind = _smoke_kind(self._smoke)
        try:
            self.runtime.predict(self._smoke, {}, kind, Kind.STRING, model=candidate)
        except DruckerError as error:
            raise ModelLoadError(f"{candidate.name} failed the smoke prediction: {error}") from None

    def evaluate(self, data_name: str, result_name: str) -> EvaluationMetrics:
        """Evaluate the serving model on stored data and store the result.

        :raises DruckerError: for unknown data, a plugin failure (the runtime's policy), or
            data without samples; the previous result of that name then stays.
        """
        data_path = self.data.path(data_name)
        accumulator = MetricsAccumulator()

        def summarize() -> dict[str, Any]:
            if accumulator.num == 0:
                raise InvalidInputError(f"{data_name} holds no samples to evaluate")
            return attrs.asdict(accumulator.metrics())

        details = accumulator.records(self.runtime.evaluate(data_path))
        metrics = EvaluationMetrics(**self.results.write(result_name, details, summarize))
        self.runtime.log.info(
            f"evaluated {data_name} into {result_name}", num=metrics.num, accuracy=metrics.accuracy
        )
        return metrics

    def evaluation_result(self, name: str) -> tuple[EvaluationMetrics, Iterator[dict[str, Any]]]:
        """A stored result's metrics and its per-sample records (streamed).

        :raises NotFoundError: when there is no such result.
        """
        summary, records = self.results.read(name)
        return EvaluationMetrics(**summary), records
