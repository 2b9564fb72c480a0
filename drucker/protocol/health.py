"""Health: the 0.4.5 ``drucker.Health`` service and the standard ``grpc.health.v1.Health``."""

from __future__ import annotations

from typing import Any, Protocol

import grpc.aio
from grpc_health.v1 import health, health_pb2

from drucker._wire import drucker_pb2, drucker_pb2_grpc


class Readiness(Protocol):
    """What health reports on: a runtime, or a server's models (all of them ready)."""

    @property
    def ready(self) -> bool: ...


_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DruckerHealthServicer(drucker_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """``drucker.Health/Check``: SERVING once a model is loaded, NOT_SERVING otherwise."""

    def __init__(self, runtime: Readiness) -> None:
        self._runtime = runtime
        self.shutting_down = False

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        serving = self._runtime.ready and not self.shutting_down
        status = drucker_pb2.HealthCheckResponse
        return status(status=status.SERVING if serving else status.NOT_SERVING)


class HealthReporter:
    """Keeps both health services in step with the runtime's state."""

    def __init__(self, runtime: Readiness, service_names: list[str]) -> None:
        self.standard = health.aio.HealthServicer()
        self.drucker = DruckerHealthServicer(runtime)
        self._service_names = ["", *service_names]
        self._runtime = runtime

    async def refresh(self) -> None:
        """Publish SERVING when a model is loaded (and not shutting down), else NOT_SERVING."""
        serving = self._runtime.ready and not self.drucker.shutting_down
        for name in self._service_names:
            await self.standard.set(name, _SERVING if serving else _NOT_SERVING)

    async def shutting_down(self) -> None:
        """Report NOT_SERVING from now on, so load balancers stop sending traffic."""
        self.drucker.shutting_down = True
        await self.standard.enter_graceful_shutdown()
