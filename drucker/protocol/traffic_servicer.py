"""The traffic rpcs of ``drucker.DruckerDashboard``: thin translation to
:class:`~drucker.traffic.control.TrafficControl` (changes run in a thread: they load models and
write the store)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import grpc.aio

from drucker._wire import drucker_pb2
from drucker.errors import DruckerError, storage_error
from drucker.models import ModelTable
from drucker.protocol.peers import readable_peer
from drucker.protocol.status import answer_or_abort
from drucker.traffic.control import TrafficControl, TrafficModel
from drucker.traffic.policy import Guard

TRAFFIC_RPCS = (
    "GetTraffic",
    "SetTrafficSplit",
    "SetTrafficShadow",
    "SetTrafficGuard",
    "PromoteVersion",
    "ClearTraffic",
    "ShadowSample",
)


def traffic_message(model: TrafficModel, message: str = "") -> Any:
    """The ``TrafficResponse`` of a model's policy and live figures."""
    policy = model.policy
    counts = model.counts
    shadow = model.shadow_counts
    loaded = set(model.loaded())
    versions = [*dict.fromkeys([*loaded, *counts, *policy.versions()])]
    return drucker_pb2.TrafficResponse(
        model=model.name,
        serving=model.serving(),
        split=[drucker_pb2.TrafficWeight(version=v, weight=w) for v, w in policy.split],
        shadow_version=policy.shadow,
        shadow_fraction=policy.fraction,
        guards=[
            drucker_pb2.TrafficGuard(
                version=g.version,
                max_error_rate=g.max_error_rate,
                min_agreement=g.min_agreement,
                window=g.window,
                tripped=g.tripped,
                reason=g.reason,
                tripped_at=g.tripped_at,
            )
            for g in policy.guards
        ],
        versions=[
            drucker_pb2.VersionTraffic(
                version=v,
                requests=counts[v].requests if v in counts else 0,
                errors=counts[v].errors if v in counts else 0,
                latency_p50_ms=counts[v].p50_ms() if v in counts else 0.0,
                latency_p99_ms=counts[v].p99_ms() if v in counts else 0.0,
                loaded=v in loaded,
            )
            for v in versions
            if v
        ],
        shadow=drucker_pb2.ShadowFigures(
            agree=shadow.agree,
            disagree=shadow.disagree,
            shadow_error=shadow.shadow_error,
            dropped=shadow.dropped,
            mean_score_difference=shadow.mean_difference(),
            shadow_latency_p50_ms=shadow.latency.p50_ms(),
            shadow_latency_p99_ms=shadow.latency.p99_ms(),
        ),
        changed_at=policy.changed_at,
        changed_by=policy.changed_by,
        message=message,
    )


def _row(row: dict[str, Any]) -> Any:
    def text(value: Any) -> str:
        return "" if value is None else json.dumps(value)

    def scores(value: Any) -> list[float]:
        values = value if isinstance(value, list) else [value]
        flat: list[float] = []
        for v in values:
            flat.extend(scores(v) if isinstance(v, list) else [float(v)])
        return flat

    return drucker_pb2.ShadowSampleRow(
        at=row["at"],
        input=text(row["input"]),
        primary_version=row["primary_version"],
        primary_label=text(row["primary_label"]),
        primary_score=scores(row["primary_score"]),
        shadow_version=row["shadow_version"],
        shadow_label=text(row["shadow_label"]),
        shadow_score=scores(row["shadow_score"]),
        outcome=row["outcome"],
        score_difference=row["score_difference"],
    )


class TrafficServicer:
    """Answers the traffic rpcs for the model a call's metadata names."""

    def __init__(self, models: ModelTable, control: TrafficControl) -> None:
        self._models = models
        self._control = control

    def _model(self, context: grpc.aio.ServicerContext) -> TrafficModel:
        served = self._models.for_metadata(context.invocation_metadata())
        return self._control.model(served.name)

    async def _run(self, context: Any, change: Callable[[TrafficModel, str], str] | None) -> Any:
        async def work() -> Any:
            model = self._model(context)
            message = ""
            if change is not None:
                by = readable_peer(context.peer())
                try:
                    message = await asyncio.get_running_loop().run_in_executor(
                        None, change, model, by
                    )
                except OSError as exc:
                    raise storage_error(exc) from None
            return traffic_message(model, message)

        return await answer_or_abort(context, work())

    async def GetTraffic(self, request: Any, context: Any) -> Any:
        return await self._run(context, None)

    async def SetTrafficSplit(self, request: Any, context: Any) -> Any:
        weights = [(w.version, w.weight) for w in request.weights]
        return await self._run(context, lambda model, by: model.set_split(weights, by))

    async def SetTrafficShadow(self, request: Any, context: Any) -> Any:
        version, fraction = request.version, request.fraction
        return await self._run(context, lambda model, by: model.set_shadow(version, fraction, by))

    async def SetTrafficGuard(self, request: Any, context: Any) -> Any:
        guard = Guard(
            version=request.version,
            max_error_rate=request.max_error_rate if request.HasField("max_error_rate") else None,
            min_agreement=request.min_agreement if request.HasField("min_agreement") else None,
            window=request.window or 100,
        )
        remove = request.remove
        return await self._run(context, lambda model, by: model.set_guard(guard, remove, by))

    async def PromoteVersion(self, request: Any, context: Any) -> Any:
        version = request.version
        return await self._run(context, lambda model, by: model.promote(version, by))

    async def ClearTraffic(self, request: Any, context: Any) -> Any:
        return await self._run(context, lambda model, by: model.clear(by))

    async def ShadowSample(self, request: Any, context: Any) -> Any:
        async def work() -> Any:
            model = self._model(context)
            name = await asyncio.get_running_loop().run_in_executor(None, model.store_sample)
            rows = model.sample()
            if request.limit > 0:
                rows = rows[-request.limit :]
            return drucker_pb2.ShadowSampleResponse(rows=[_row(r) for r in rows], data_name=name)

        try:
            return await answer_or_abort(context, work())
        except DruckerError:  # answer_or_abort aborted already
            raise
