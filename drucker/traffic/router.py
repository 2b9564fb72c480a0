"""The one place a request's version is chosen: between the protocol adapters and the
dispatchers.

A :class:`TrafficRouter` stands where a model's :class:`~drucker.dispatch.Dispatcher` stands
(same ``predict``, ``predict_rows`` and ``predict_tensor``) while the model has a policy. All
versions share the model's one dispatcher: a request names the loaded version that answers it
(``version``), so a canary's requests join the serving version's batch lanes, threads and
admission, and a batch makes one plugin call per version among its requests. A shadow's calls
go to the same lanes at low priority (into the room a batch leaves, never admitted). Without a
policy the model's table entry holds its plain dispatcher again: no cost at all.

The version that answered is reported in the ``x-drucker-version`` trailing metadata of a gRPC
call (one metadata tuple per version, built once) and in :data:`ANSWERED` (a context variable
the V2 bindings read for ``model_version`` and the REST header).
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable
from typing import Any

from drucker.admission import Caller
from drucker.dispatch import Dispatcher
from drucker.errors import DruckerError
from drucker.observability.traffic_metrics import TrafficMetrics
from drucker.registry import ActiveModel
from drucker.traffic.figures import ShadowCounts, VersionCounts, Window
from drucker.traffic.policy import TrafficPolicy
from drucker.traffic.routing import Routes
from drucker.traffic.shadow import ShadowLane

VERSION_HEADER = "x-drucker-version"
ROUTE_KEY_HEADER = "x-drucker-route-key"
# The version that answered the current request (set by the router, read by the bindings).
ANSWERED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "drucker_answered_version", default=None
)

Trip = Callable[[str, str], None]  # (version, reason): a guard crossed


def route_key(caller: Any) -> bytes | None:
    """The request's route key: a REST caller's ``route_key``, or gRPC metadata."""
    key = getattr(caller, "route_key", None)
    if key is not None:
        return bytes(key)
    metadata = getattr(caller, "invocation_metadata", None)
    if metadata is None:
        return None
    for name, value in metadata() or ():
        if name == ROUTE_KEY_HEADER:
            return value if isinstance(value, bytes) else value.encode()
    return None


Trailer = tuple[tuple[str, str], ...]
_TRAILERS: dict[str, Trailer] = {}  # the trailing metadata naming each version, built once


def _trailer(version: str) -> Trailer:
    found = _TRAILERS.get(version)
    if found is None:
        if len(_TRAILERS) > 1024:  # versions come and go: never grow without bound
            _TRAILERS.clear()
        found = _TRAILERS[version] = ((VERSION_HEADER, version),)
    return found


def report(caller: Any, version: str) -> None:
    """Say which version answers: the context variable, and gRPC trailing metadata."""
    ANSWERED.set(version)
    trailing = getattr(caller, "set_trailing_metadata", None)
    if trailing is not None:
        trailing(_trailer(version))


class TrafficRouter:
    """Routes one model's requests by its policy over its loaded versions, through the
    model's one dispatcher (``base``, which follows switches)."""

    def __init__(
        self,
        model: str,
        base: Dispatcher,
        versions: dict[str, ActiveModel],
        policy: TrafficPolicy,
        metrics: TrafficMetrics,
        on_trip: Trip,
        counts: dict[str, VersionCounts],
        shadow_counts: ShadowCounts,
        lane: ShadowLane,
    ) -> None:
        self.model = model
        self.base = base  # the model's dispatcher (the serving version follows switches)
        self.policy = policy
        self._versions = versions  # the loaded versions besides the serving one
        self._metrics = metrics
        self._on_trip = on_trip
        self.counts = counts
        self.shadow_counts = shadow_counts
        self.lane = lane
        self._random = random.random
        self._routes = Routes(policy.split) if policy.split else None
        self._fraction = policy.fraction if policy.shadow else 0.0
        self._windows = {g.version: Window(g.window) for g in policy.guards if not g.tripped}

    def __getattr__(self, name: str) -> Any:  # admission, runtime, batching, draining, ...
        return getattr(self.base, name)

    # -- choosing ----------------------------------------------------------------------------

    def serving(self) -> str:
        active = self.base.runtime.active
        return active.name if active is not None else ""

    def dispatcher(self, version: str) -> Any | None:
        """What predicts with a loaded version alone (``None`` when it is not loaded): the
        dispatcher itself for the serving version, a :class:`Pinned` view for another."""
        if version == self.serving():
            return self.base
        loaded = self._versions.get(version)
        return None if loaded is None else Pinned(self.base, loaded)

    def _choose(self, caller: Caller | None) -> tuple[str, ActiveModel | None]:
        """The version that answers and its loaded model (``None``: the serving one)."""
        routes = self._routes
        if routes is None or not routes.versions:
            return self.serving(), None
        key = route_key(caller)
        version = routes.for_key(key) if key else routes.by_chance()
        active = self.base.runtime.active
        if active is not None and version == active.name:
            return version, None
        return version, self._versions.get(version)

    def _record(self, version: str, started: float, failed: bool) -> None:
        counts = self.counts.get(version)
        if counts is None:
            counts = self.counts[version] = VersionCounts()
        counts.record(time.perf_counter() - started, failed)
        window = self._windows.get(version)
        if window is not None:
            window.requests += 1
            window.errors += failed
            self._check(version, window)

    def _shadowed(self) -> ActiveModel | None:
        if self._fraction and self._random() < self._fraction:
            return self._versions.get(self.policy.shadow)
        return None

    # -- predicting --------------------------------------------------------------------------

    async def predict(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None = None,
    ) -> Any:
        """Predict one input with the version the policy picks (and shadow it)."""
        return await self._routed("predict", value, option, input_kind, output_kind, caller)

    async def predict_rows(
        self,
        values: list[Any],
        option: dict[str, Any],
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None = None,
    ) -> Any:
        """Predict a request's rows with the version the policy picks (and shadow it)."""
        return await self._routed("predict_rows", values, option, input_kind, output_kind, caller)

    async def predict_tensor(
        self,
        rows: Any,
        option: dict[str, Any],
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None = None,
    ) -> Any:
        """Predict a request's tensor with the version the policy picks (and shadow it)."""
        return await self._routed("predict_tensor", rows, option, input_kind, output_kind, caller)

    async def _routed(
        self,
        how: str,
        value: Any,
        option: dict[str, Any],
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None,
    ) -> Any:
        """``Dispatcher.<how>`` on the version the policy picks, counted for its figures and
        guard, then offered to the shadow lane (which never delays the answer)."""
        version, model = self._choose(caller)
        report(caller, version)
        predict = getattr(self.base, how)
        started = time.perf_counter()
        try:
            result = await predict(value, option, input_kind, output_kind, caller, model)
        except DruckerError:
            self._record(version, started, True)
            raise
        self._record(version, started, False)
        shadow = self._shadowed()
        if shadow is not None:
            # low: never admitted, and only into the room the primary requests leave
            call = lambda: predict(value, option, input_kind, output_kind, None, shadow, True)  # noqa: E731
            self._shadow(call, result, value, version)
        return result

    # -- the shadow and the guards -----------------------------------------------------------

    def _shadow(self, call: Any, result: Any, value: Any, primary: str) -> None:
        shadow = self.policy.shadow

        def done(outcome: str, difference: float | None, seconds: float, row: Any) -> None:
            counts = self.shadow_counts
            setattr(counts, outcome, getattr(counts, outcome) + 1)
            if difference is not None and outcome in ("agree", "disagree"):
                counts.difference_sum += difference
            if outcome != "dropped":
                counts.latency.record(seconds, outcome == "shadow_error")
            self._metrics.compared(self.model, primary, shadow, outcome, difference)
            window = self._windows.get(shadow)
            if window is not None and outcome != "dropped":
                window.requests += 1
                window.errors += outcome == "shadow_error"
                if outcome != "shadow_error":
                    window.compared += 1
                    window.agree += outcome == "agree"
                self._check(shadow, window)

        self.lane.offer(call, result, value, (primary, shadow), done)

    def _check(self, version: str, window: Window) -> None:
        """Trip the version's guard when a full window crosses a threshold."""
        if not window.full():
            return
        guard = self.policy.guard(version)
        reason = ""
        if guard is not None and guard.max_error_rate is not None and window.requests:
            rate = window.errors / window.requests
            if rate > guard.max_error_rate:
                reason = (
                    f"error rate {rate:.3f} over {window.requests} requests is above "
                    f"{guard.max_error_rate:g}"
                )
        if not reason and guard is not None and guard.min_agreement is not None and window.compared:
            agreement = window.agree / window.compared
            if agreement < guard.min_agreement:
                reason = (
                    f"agreement {agreement:.3f} over {window.compared} comparisons is "
                    f"below {guard.min_agreement:g}"
                )
        window.reset()
        if reason:
            del self._windows[version]
            self._take_out(version)
            self._on_trip(version, reason)

    def _take_out(self, version: str) -> None:
        """Stop sending requests to ``version`` at once (the stored policy follows)."""
        if version == self.policy.shadow:
            self._fraction = 0.0
        if self._routes is not None and version in self._routes.versions:
            self._routes = Routes(without(self.policy.split, version, self.serving()))

    # -- the dispatcher's life ---------------------------------------------------------------

    def drain(self) -> None:
        self.base.drain()

    def close(self) -> None:
        self.base.close()


class Pinned:
    """The model's dispatcher with one loaded version answering every request (a V2 request
    that names its version: it bypasses the split and is not shadowed)."""

    def __init__(self, base: Dispatcher, version: ActiveModel) -> None:
        self.base, self.version = base, version

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    async def predict(
        self,
        value: Any,
        option: Any,
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None = None,
    ) -> Any:
        """``Dispatcher.predict`` by this version."""
        return await self.base.predict(value, option, input_kind, output_kind, caller, self.version)

    async def predict_rows(
        self,
        values: Any,
        option: Any,
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None = None,
    ) -> Any:
        """``Dispatcher.predict_rows`` by this version."""
        return await self.base.predict_rows(
            values, option, input_kind, output_kind, caller, self.version
        )

    async def predict_tensor(
        self,
        rows: Any,
        option: Any,
        input_kind: Any,
        output_kind: Any,
        caller: Caller | None = None,
    ) -> Any:
        """``Dispatcher.predict_tensor`` by this version."""
        return await self.base.predict_tensor(
            rows, option, input_kind, output_kind, caller, self.version
        )


def without(
    split: tuple[tuple[str, float], ...], version: str, serving: str
) -> tuple[tuple[str, float], ...]:
    """``split`` with ``version`` at weight 0, its share given to ``serving``."""
    share = sum(weight for name, weight in split if name == version)
    out = [(name, 0.0 if name == version else weight) for name, weight in split]
    if serving and serving != version:
        if any(name == serving for name, _ in out):
            out = [(n, w + share if n == serving else w) for n, w in out]
        else:
            out.append((serving, share))
    return tuple(out)


def pinned(dispatcher: Any, version: str, caller: Any) -> Any | None:
    """The dispatcher of ``version`` when a request names it and the model's router has it
    loaded (it bypasses the split and is not shadowed); ``None`` otherwise."""
    if not isinstance(dispatcher, TrafficRouter):
        return None
    chosen = dispatcher.dispatcher(version)
    if chosen is not None:
        report(caller, version)
    return chosen
