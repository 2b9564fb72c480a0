"""Traffic policies of a server's models: checked, loaded, stored, then applied.

A change is checked first, then every version it names is loaded and smoke-tested, then the
policy is written to the model store (beside the serving record), recorded in the history and
the log, and only then applied (the model's table entry gets a new router). Any failure on the
way leaves the old policy serving. Replicas on a shared store apply the stored record as they
follow switches (:meth:`TrafficModel.follow`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from typing import Any, cast

import attrs

from drucker.dispatch import Dispatcher
from drucker.errors import DruckerError, InvalidInputError, NotFoundError
from drucker.models import ModelTable, ServedModel
from drucker.observability.traffic_metrics import TrafficMetrics
from drucker.registry import ActiveModel
from drucker.traffic.figures import ShadowCounts, VersionCounts
from drucker.traffic.policy import (
    Guard,
    TrafficPolicy,
    checked_fraction,
    checked_guard,
    checked_split,
    from_json,
    to_json,
)
from drucker.traffic.router import TrafficRouter, without
from drucker.traffic.shadow import ShadowLane

SAMPLE_COLUMNS = (
    "at",
    "input",
    "primary_version",
    "primary_label",
    "primary_score",
    "shadow_version",
    "shadow_label",
    "shadow_score",
    "outcome",
    "score_difference",
)


class TrafficModel:
    """One model's policy, its loaded versions and its live figures."""

    def __init__(self, models: ModelTable, name: str, metrics: TrafficMetrics) -> None:
        self.name = name
        self._models = models
        self._metrics = metrics
        self.policy = TrafficPolicy()
        self._versions: dict[str, ActiveModel] = {}  # loaded besides the serving one
        self._kept = ""  # the version a promote replaced, kept loaded for a rollback
        self.counts: dict[str, VersionCounts] = {}
        self.shadow_counts = ShadowCounts()
        self.lane = ShadowLane()
        self.sample_name = ""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the model's entry -------------------------------------------------------------------

    def base(self) -> ServedModel:
        """The model's entry with its plain dispatcher. :raises NotFoundError: unknown model."""
        served = self._models.get(self.name)
        dispatcher = served.dispatcher
        if isinstance(dispatcher, TrafficRouter):
            return attrs.evolve(served, dispatcher=dispatcher.base)
        return served

    def serving(self) -> str:
        active = self.base().runtime.active
        return active.name if active is not None else ""

    def router(self) -> TrafficRouter | None:
        dispatcher = self._models.get(self.name).dispatcher
        return dispatcher if isinstance(dispatcher, TrafficRouter) else None

    def loaded(self) -> list[str]:
        return [self.serving(), *(v for v in self._versions if v != self.serving())]

    # -- changes (blocking: run them in a thread) --------------------------------------------

    def set_split(self, weights: list[tuple[str, float]], by: str) -> str:
        split = checked_split(weights)
        with self._lock:
            shadow = self.policy.shadow
            if shadow and any(v == shadow and w > 0 for v, w in split):
                raise InvalidInputError(f"{shadow!r} is the shadow; it cannot also be in the split")
            new = self.policy.changed(by, split=split)
            return self._change(new, by, new.describe())

    def set_shadow(self, version: str, fraction: float, by: str) -> str:
        with self._lock:
            if not version:
                new = self.policy.changed(by, shadow="", fraction=0.0)
                return self._change(new, by, f"shadow {self.policy.shadow or '-'} stopped")
            fraction = checked_fraction(fraction)
            in_split = any(v == version and w > 0 for v, w in self.policy.split)
            if in_split or (not self.policy.split and version == self.serving()):
                raise InvalidInputError(
                    f"{version!r} already answers in the split; a shadow must be another version"
                )
            new = self.policy.changed(by, shadow=version, fraction=fraction)
            return self._change(new, by, new.describe())

    def set_guard(self, guard: Guard, remove: bool, by: str) -> str:
        with self._lock:
            if guard.version not in self.policy.versions():
                raise InvalidInputError(
                    f"{guard.version!r} is neither in the split nor the shadow; guard one of "
                    f"{', '.join(self.policy.versions()) or 'none'}"
                )
            others = tuple(g for g in self.policy.guards if g.version != guard.version)
            guards = others if remove else (*others, checked_guard(guard))
            text = f"guard {guard.version} removed" if remove else _guard_text(guard)
            return self._change(self.policy.changed(by, guards=guards), by, text)

    def clear(self, by: str) -> str:
        with self._lock:
            return self._change(TrafficPolicy().changed(by), by, "traffic cleared")

    def promote(self, version: str, by: str) -> str:
        """Switch to ``version`` (today's switch), end the split and the shadow; the version
        that served stays loaded."""
        with self._lock:
            base = self.base()
            before = base.runtime.active
            if version != self.serving():
                base.manager.switch(version, by=by or "promote")
                if before is not None:
                    self._versions[before.name] = before
                    self._kept = before.name
            return self._change(TrafficPolicy().changed(by), by, f"promote {version}")

    def follow(self) -> bool:
        """Apply the stored policy if another replica changed it; whether it changed."""
        record = self.base().manager.models.traffic_record()
        stored = from_json(record)
        if to_json(stored) == to_json(self.policy):
            return False
        with self._lock:
            self._apply(stored)
        self.base().runtime.log.info(
            f"traffic of {self.name}: {stored.describe()}, following the model store"
        )
        return True

    def tripped(self, version: str, reason: str) -> None:
        """A guard crossed a threshold (called on the event loop): store it off the loop."""
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, self._trip, version, reason)

    def _trip(self, version: str, reason: str) -> None:
        with self._lock:
            policy = self.policy
            guards = tuple(
                attrs.evolve(g, tripped=True, reason=reason, tripped_at=time.time())
                if g.version == version
                else g
                for g in policy.guards
            )
            changes: dict[str, Any] = {"guards": guards}
            if version == policy.shadow:
                changes.update(shadow="", fraction=0.0)
            else:
                changes["split"] = without(policy.split, version, self.serving())
            new = policy.changed("guard", **changes)
            try:
                self._change(new, "guard", f"guard tripped: {version}: {reason}")
            except DruckerError as error:
                self.base().runtime.log.error(f"guard of {version} not stored: {error}")

    # -- the one way a policy changes --------------------------------------------------------

    def _change(self, new: TrafficPolicy, by: str, text: str) -> str:
        base = self.base()
        self._load_versions(base, new)
        base.manager.models.set_traffic_record(to_json(new))  # whole, or not at all
        base.manager.record_traffic(text, by)
        self._install(base, new)
        log = base.runtime.log
        say = log.warning if text.startswith("guard tripped") else log.info
        say(f"traffic of {self.name}: {text}", policy=new.describe(), by=by)
        return text

    def _apply(self, new: TrafficPolicy) -> None:
        base = self.base()
        self._load_versions(base, new)
        self._install(base, new)

    def _load_versions(self, base: ServedModel, new: TrafficPolicy) -> None:
        serving = self.serving()
        for version in new.versions():
            if version != serving and version not in self._versions:
                try:
                    loaded = base.manager.load_version(version)
                except NotFoundError:  # the store's wording names a model, not a version
                    raise NotFoundError(
                        f"model {self.name!r} has no version {version!r} in the store"
                    ) from None
                except DruckerError as error:  # nothing changed: the old policy serves
                    raise _naming(error, version) from None
                self._versions[version] = loaded

    def _install(self, base: ServedModel, new: TrafficPolicy) -> None:
        self.policy = new
        keep = {*new.versions(), self._kept}
        for version in [v for v in self._versions if v not in keep]:
            del self._versions[version]  # its model is freed once no batch holds it
        if new.empty:
            self._models.add(base)
            return
        router = TrafficRouter(
            self.name,
            base.dispatcher,
            dict(self._versions),
            new,
            self._metrics,
            self.tripped,
            self.counts,
            self.shadow_counts,
            self.lane,
        )
        # the router stands where the dispatcher stood (the same three predict methods)
        self._models.add(attrs.evolve(base, dispatcher=cast(Dispatcher, router)))

    # -- the shadow sample -------------------------------------------------------------------

    def sample(self) -> list[dict[str, Any]]:
        return list(self.lane.sample)

    def store_sample(self) -> str:
        """Store the kept sample as a CSV evaluation data set; its name ("" for no rows)."""
        rows = self.sample()
        if not rows:
            return self.sample_name
        text = io.StringIO()
        writer = csv.DictWriter(text, SAMPLE_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in SAMPLE_COLUMNS})
        manager = self.base().manager
        name = f"shadow-sample-{self.name}.csv"
        with manager.begin_data_upload(name) as upload:
            upload.write(text.getvalue().encode())
            upload.commit()
        self.sample_name = name
        return name


def _naming(error: DruckerError, version: str) -> DruckerError:
    """``error`` (its class, so its status code) with a message that names ``version``."""
    try:
        return type(error)(f"version {version!r} cannot serve: {error}")
    except TypeError:  # a class that takes more than a message
        return error


def _cell(value: Any) -> Any:
    return value if isinstance(value, str | int | float) else json.dumps(value)


def _guard_text(guard: Guard) -> str:
    limits = []
    if guard.max_error_rate is not None:
        limits.append(f"max error rate {guard.max_error_rate:g}")
    if guard.min_agreement is not None:
        limits.append(f"min agreement {guard.min_agreement:g}")
    return f"guard {guard.version}: {', '.join(limits)} per {guard.window} requests"


class TrafficControl:
    """The traffic of every model a server serves, by model name."""

    def __init__(self, models: ModelTable, metrics: TrafficMetrics) -> None:
        self._models = models
        self._metrics = metrics
        self._by_name: dict[str, TrafficModel] = {}

    def model(self, name: str) -> TrafficModel:
        """The traffic of model ``name`` (empty: the default model).

        :raises NotFoundError: for a model that is not served.
        """
        served = self._models.get(name)
        found = self._by_name.get(served.name)
        if found is None:
            found = self._by_name[served.name] = TrafficModel(
                self._models, served.name, self._metrics
            )
        return found

    def reinstate(self, name: str) -> None:
        """Model ``name`` was loaded through the repository (blocking): a model that was
        unloaded and loaded again (or first loaded there) gets its stored policy's router; a
        reload in place keeps its router. A failure is logged: the model serves as stored."""
        found = self._by_name.get(name)
        if found is not None and found.router() is not None:
            return
        self._by_name.pop(name, None)  # its versions were loaded for the model unloaded
        try:
            self.model(name).follow()
        except DruckerError as error:
            self._models.get(name).runtime.log.error(
                f"cannot apply the traffic policy of {name}: {error}", model=name
            )

    def follow(self) -> None:
        """Apply every model's stored policy that changed (raises the first failure)."""
        failure: DruckerError | None = None
        for name in self._models.names():
            try:
                self.model(name).follow()
            except (DruckerError, NotFoundError) as error:
                failure = failure or error
        if failure is not None:
            raise failure
