"""Model management over the runtime: stored models and data, switches, evaluations.

Knows files and the runtime, not gRPC; the dashboard servicer translates to and from the wire.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from drucker.admission import Caller, gone_reason
from drucker.errors import (
    CallerGoneError,
    DeadlineExceededError,
    DruckerError,
    InUseError,
    InvalidInputError,
    NotFoundError,
)
from drucker.evaluation import EvaluationMetrics, MetricsAccumulator
from drucker.observability import NO_METRICS, Metrics
from drucker.runtime import ActiveModel, Runtime
from drucker.smoke import smoke_test
from drucker.startup_model import configured_model, keep_in_store
from drucker.store.atomic import sha256_of
from drucker.store.backends import open_stores
from drucker.store.base import (
    ActiveRecord,
    PendingUpload,
    StoredFile,
    StoredResult,
    SwitchEvent,
    storage_failures,
)
from drucker.store.history import previous_model

FOLLOW_BACKOFF_LIMIT_SECONDS = 60.0


@attrs.define
class _FollowFailure:
    """A record this replica could not load, and when to try it again."""

    record: ActiveRecord
    attempts: int
    retry_at: float


class ModelManager:
    """Uploads, switches and evaluations for one runtime; at most one switch at a time.

    A switch is persisted in the store's active-model record (compare-and-set) *before* the new
    model serves, so a failed write leaves the old model serving; every replica on the same
    store follows the record (:meth:`follow_store`).
    """

    def __init__(self, runtime: Runtime, metrics: Metrics = NO_METRICS) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self._metrics = metrics
        stores = open_stores(settings)
        self.models = stores.models
        self.data = stores.data
        self.shared_store = stores.shared
        self.results = stores.results
        self._switching = threading.Lock()
        self._smoke = json.loads(settings.smoke_input) if settings.smoke_input else None
        self._failure: _FollowFailure | None = None
        self.follow_failures = 0  # loads of the store's active model that failed, in total
        self._forced_over: ActiveRecord | None = None  # the record --force-model served over
        self._unstored_start: tuple[Path, str, str] | None = None  # a --model file, local store
        self._identity = f"{socket.gethostname()}:{settings.port} (pid {os.getpid()})"

    def begin_model_upload(self, name: str) -> PendingUpload:
        """Start receiving a model file (the serving model's name and file are refused)."""
        return self.models.begin(
            name, self.runtime.settings.max_upload_bytes, serving=self._serving_path
        )

    def _serving_path(self) -> str | None:
        active = self.runtime.active
        return active.path if active is not None else None

    def begin_data_upload(self, name: str) -> PendingUpload:
        """Start receiving an evaluation data file."""
        return self.data.begin(name, self.runtime.settings.max_upload_bytes, replace_active=True)

    def load_initial(
        self, explicit: str | None, explicit_sha256: str | None = None, force: bool = False
    ) -> ActiveModel:
        """Load and activate the start-up model.

        The store's active-model record (the last successful switch) wins over ``--model`` and
        the settings, as Drucker 0.4.5's model assignment did; when it cannot be loaded, the
        configured model serves and the record is followed later. With ``force`` and
        ``explicit``, ``explicit`` serves and that record is not followed (a later switch is).
        """
        log = self.runtime.log
        try:
            record = self.models.active_record()
        except DruckerError as error:
            log.error(f"cannot read the store's active model, starting without it: {error}")
            record = None
        forced_over = record if force and explicit is not None else None
        if forced_over is not None:
            self._forced_over = forced_over
            record = None
        if record is not None:
            try:
                active = self._load_record(record)
            except DruckerError as error:
                log.error(f"the stored active model {record.name} cannot be loaded: {error}")
            else:
                self._activate(active)
                hint = (
                    f"--model {explicit} is not served: add --force-model to serve it"
                    if explicit is not None
                    else "to serve another file: --model FILE --force-model"
                )
                log.info(
                    f"loaded model {record.name} (the last model switched to, model store; {hint})",
                    model_path=active.path,
                    sha256=active.sha256,
                )
                return active
        path, name, reason = configured_model(self.runtime.settings, explicit, explicit_sha256)
        if forced_over is not None:
            reason += f" and --force-model, over the store's last switch to {forced_over.name}"
        active = self._load(path, name, None)
        with contextlib.suppress(OSError):  # loaded, so readable; the digest is for reports
            active = attrs.evolve(active, sha256=sha256_of(path))
        self._activate(active)
        log.info(f"loaded model {name} ({reason})", model_path=str(path), sha256=active.sha256)
        if explicit is not None and active.sha256:
            if self.shared_store:
                keep_in_store(self.models, self.runtime, path, name, active.sha256)
            else:  # stored when a switch leaves it, so a rollback can return to it
                self._unstored_start = (path, name, active.sha256)
        return active

    def _load(self, path: Path, name: str, sha256: str | None) -> ActiveModel:
        active = self.runtime.load_model(path, name)
        return ActiveModel(active.model, active.name, active.path, sha256, active.loaded_at)

    def _load_stored(self, stored: StoredFile, path: Path) -> ActiveModel:
        candidate = self._load(path, stored.name, stored.sha256)
        if not self.shared_store:
            # Loaded from a snapshot of the stored file; it serves as that file (which uploads
            # cannot replace while it is active). A shared store's model serves from the cache.
            source = str(Path(self.models.location) / stored.name)
            candidate = attrs.evolve(candidate, path=source)
        if self._smoke is not None:
            self._smoke_test(candidate)
        return candidate

    def load_version(self, name: str) -> ActiveModel:
        """Load stored model ``name`` and smoke-test it, without making it serve (a version
        that takes part of the traffic). :raises DruckerError: as a switch's load does."""
        with self.models.checkout(name) as (stored, path):
            return self._load_stored(stored, path)

    def record_traffic(self, change: str, by: str, result: str = "ok") -> None:
        """Add a traffic policy change to the switch history (logged, never raised)."""
        serving = self.runtime.active
        name, sha256 = (serving.name, serving.sha256 or "") if serving else ("", "")
        self._record(name, sha256, (name, sha256), by, result, traffic=change)

    def _load_record(self, record: ActiveRecord) -> ActiveModel:
        with self.models.checkout(record.name, record.sha256) as (stored, path):
            return self._load_stored(stored, path)

    def switch(
        self,
        name: str,
        sha256: str | None = None,
        by: str = "",
        *,
        rollback: bool = False,
        caller: Caller | None = None,
    ) -> ActiveModel:
        """Load a stored model, smoke-test it, persist the choice, then make it serve.

        With ``sha256``, exactly those bytes (stored under ``name``) are switched to. Any
        failure leaves the current model serving and raises a :class:`DruckerError`. When
        ``caller`` (the rpc's context) has gone (its deadline passed, or it cancelled) before the
        switch is committed, it is abandoned, recorded as failed and never applied later.
        """
        with self._switching:
            return self._switch(name, sha256, by, rollback, caller)

    def _switch(
        self,
        name: str,
        sha256: str | None,
        by: str,
        rollback: bool,
        caller: Caller | None,
    ) -> ActiveModel:
        serving = self.runtime.active
        before = (serving.name, serving.sha256) if serving else (None, None)
        if self._unstored_start is not None and name != self._unstored_start[1]:
            keep_in_store(self.models, self.runtime, *self._unstored_start)
            self._unstored_start = None
        try:
            with self.models.checkout(name, sha256) as (stored, path):
                candidate = self._load_stored(stored, path)
            gone = gone_reason(caller)
            if gone == "deadline":
                raise DeadlineExceededError(
                    f"abandoned: the caller's deadline passed while {name} loaded"
                )
            if gone == "cancelled":
                raise CallerGoneError(f"abandoned: the caller cancelled while {name} loaded")
            replaced = self.models.set_active(stored)
        except DruckerError as error:
            self._record(name, sha256 or "", before, by, f"failed: {error}", rollback)
            self._metrics.model_switched(self.runtime.name, ok=False)
            raise
        self._activate(candidate)
        self._metrics.model_switched(self.runtime.name, ok=True)
        # "from" is the record this switch replaced: what all replicas served, or were about to.
        after = (replaced.name, replaced.sha256) if replaced else before
        self._record(name, stored.sha256, after, by, "ok", rollback)
        self.runtime.log.info(
            f"switched to model {name}", previous=after[0], sha256=candidate.sha256
        )
        return candidate

    def rollback(self, by: str = "", *, caller: Caller | None = None) -> ActiveModel:
        """Step back through the history: to the model that served before the current one.

        A second rollback goes further back (the history is a stack of switches that
        rollbacks pop), never forward again to the model the first rollback left.

        :raises NotFoundError: when the history names no earlier model.
        """
        last = previous_model(self.models.history(), self.models.active_record())
        if last is None or last.from_name is None:
            raise NotFoundError("the switch history has no earlier model to return to")
        return self.switch(
            last.from_name, last.from_sha256, by=by or "rollback", rollback=True, caller=caller
        )

    def history(self) -> list[SwitchEvent]:
        """The store's switch history, oldest first."""
        return self.models.history()

    def _record(
        self,
        name: str,
        sha256: str,
        before: tuple[str | None, str | None],
        by: str,
        result: str,
        rollback: bool = False,
        traffic: str = "",
    ) -> None:
        """Add a switch to the history; a failure to do so is logged, never raised."""
        event = SwitchEvent(
            at=time.time(),
            to_name=name,
            to_sha256=sha256,
            from_name=before[0],
            from_sha256=before[1],
            by=f"{by} via {self._identity}" if by else self._identity,
            result=result,
            rollback=rollback,
            traffic=traffic,
        )
        try:
            with storage_failures("cannot record the switch history"):
                self.models.record_switch(event)
        except DruckerError as error:
            self.runtime.log.warning(f"switch to {name} not recorded in the history: {error}")

    def follow_store(self) -> ActiveModel | None:
        """Switch to the store's active model if another replica or worker switched to it.

        A record that cannot be loaded is retried with an exponential backoff (up to
        :data:`FOLLOW_BACKOFF_LIMIT_SECONDS`) while the current model keeps serving. Returns
        the newly loaded model, or ``None`` when nothing changed.

        :raises DruckerError: when the store cannot be read or the model cannot be loaded.
        """
        if not self._switching.acquire(blocking=False):
            return None  # a switch through this replica is under way; look again next time
        try:
            record = self.models.active_record()
            current = self.runtime.active
            if (
                record is None
                or record == self._forced_over
                or (
                    current is not None
                    and (current.name, current.sha256) == (record.name, record.sha256)
                )
            ):
                self._failure = None
                return None
            failure = self._failure
            retry_at = failure.retry_at if failure and failure.record == record else 0.0
            if time.monotonic() < retry_at:
                return None
            try:
                candidate = self._load_record(record)
            except DruckerError:
                attempts = failure.attempts + 1 if failure and failure.record == record else 1
                interval = self.runtime.settings.store_follow_interval
                delay = min(interval * 2**attempts, FOLLOW_BACKOFF_LIMIT_SECONDS)
                self._failure = _FollowFailure(record, attempts, time.monotonic() + delay)
                self.follow_failures += 1
                raise
            self._failure = None
            previous = self._activate(candidate)
        finally:
            self._switching.release()
        self.runtime.log.info(
            f"switched to model {record.name}, following the model store",
            previous=previous.name if previous else None,
            sha256=record.sha256,
        )
        return candidate

    def _activate(self, active: ActiveModel) -> ActiveModel | None:
        previous = self.runtime.activate(active)
        self._metrics.model_serving(self.runtime.name, active.name, active.sha256)
        return previous

    def _smoke_test(self, candidate: ActiveModel) -> None:
        smoke_test(self.runtime, self._smoke, candidate)

    def delete_model(self, name: str) -> StoredFile:
        """Remove a stored model. :raises InUseError: for the model serving or recorded active."""
        with self._switching:
            stored = self.models.get(name)
            serving = self.runtime.active
            if serving is not None and (serving.name, serving.sha256) == (name, stored.sha256):
                raise InUseError(f"{name} is the serving model; switch to another first")
            stored = self.models.delete(name)
        self.runtime.log.info(f"model {name} deleted", sha256=stored.sha256)
        return stored

    def delete_data(self, name: str) -> StoredFile:
        """Remove stored evaluation data (its stored results stay)."""
        stored = self.data.delete(name)
        self.runtime.log.info(f"evaluation data {name} deleted")
        return stored

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

    def evaluation_results(self) -> list[StoredResult]:
        """Every stored evaluation result with its metrics, newest first."""
        return self.results.summaries()
