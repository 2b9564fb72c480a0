"""``drucker.DruckerDashboard`` on a server of several models: each management rpc acts on the
model its ``x-rekcurd-application-name`` metadata names (the default model without it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from drucker._wire import drucker_pb2_grpc
from drucker.errors import NotFoundError
from drucker.models import ModelTable, ServedModel
from drucker.observability.traffic_metrics import TrafficMetrics
from drucker.protocol.drucker_dashboard import ModelDashboardServicer
from drucker.protocol.traffic_servicer import TRAFFIC_RPCS, TrafficServicer
from drucker.traffic.control import TrafficControl

NO_TRAFFIC = TrafficMetrics(None)
_STREAMING_OUT = ("EvaluationResult",)
_RPCS = (
    "ServiceInfo",
    "UploadModel",
    "SwitchModel",
    "UploadEvaluationData",
    "EvaluateModel",
    "EvaluationResult",
    "ListModels",
    "ModelHistory",
    "RollbackModel",
    "DeleteModel",
    "DeleteEvaluationData",
)


class DruckerDashboardServicer(drucker_pb2_grpc.DruckerDashboardServicer):  # type: ignore[misc]
    """Routes each management rpc to the servicer of the model it names."""

    def __init__(self, models: ModelTable, traffic: TrafficControl | None = None) -> None:
        self._models = models
        self.traffic = TrafficServicer(models, traffic or TrafficControl(models, NO_TRAFFIC))
        self._servicers: dict[str, tuple[ServedModel, ModelDashboardServicer]] = {}

    async def _target(self, context: grpc.aio.ServicerContext) -> ModelDashboardServicer:
        try:
            served = self._models.for_metadata(context.invocation_metadata())
        except NotFoundError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
            raise  # abort raises; this keeps the type checker sure
        cached = self._servicers.get(served.name)
        if cached is None or cached[0] is not served:  # a model reloaded under its name
            cached = (served, ModelDashboardServicer(served.manager))
            self._servicers[served.name] = cached
        return cached[1]


def _routed(name: str) -> Callable[..., Any]:
    if name in _STREAMING_OUT:

        async def streamed(self: DruckerDashboardServicer, request: Any, context: Any) -> Any:
            target = await self._target(context)
            async for message in getattr(target, name)(request, context):
                yield message

        return streamed

    async def unary(self: DruckerDashboardServicer, request: Any, context: Any) -> Any:
        target = await self._target(context)
        return await getattr(target, name)(request, context)

    return unary


for _name in _RPCS:
    setattr(DruckerDashboardServicer, _name, _routed(_name))


def _traffic_rpc(name: str) -> Callable[..., Any]:
    async def unary(self: DruckerDashboardServicer, request: Any, context: Any) -> Any:
        return await getattr(self.traffic, name)(request, context)

    return unary


for _name in TRAFFIC_RPCS:
    setattr(DruckerDashboardServicer, _name, _traffic_rpc(_name))

__all__ = ["DruckerDashboardServicer"]
