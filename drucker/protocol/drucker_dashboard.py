"""The ``drucker.DruckerDashboard`` service: service information and model management."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio

from drucker.protocol._generated import drucker_pb2, drucker_pb2_grpc
from drucker.runtime import Runtime


class DruckerDashboardServicer(drucker_pb2_grpc.DruckerDashboardServicer):  # type: ignore[misc]
    """Answers ServiceInfo; model management rpcs are answered by the management layer."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def ServiceInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        settings = self._runtime.settings
        active = self._runtime.active
        return drucker_pb2.ServiceInfoResponse(
            application_name=settings.application_name,
            service_name=settings.service_name,
            service_level=settings.service_level.value,
            model_name=active.name if active else "",
            model_sha256=(active.sha256 or "") if active else "",
        )

    async def _unimplemented(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "model management is not enabled")

    UploadModel = _unimplemented
    SwitchModel = _unimplemented
    UploadEvaluationData = _unimplemented
    EvaluateModel = _unimplemented

    async def EvaluationResult(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "model management is not enabled")
        yield  # pragma: no cover - makes this an async generator, as the rpc streams
