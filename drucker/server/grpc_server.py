"""A grpc.aio server carrying the Drucker services, health and reflection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from drucker import observability
from drucker._wire import (
    drucker_pb2,
    drucker_pb2_grpc,
    grpc_predict_v2_pb2,
    grpc_predict_v2_pb2_grpc,
)
from drucker.dispatch import Dispatcher
from drucker.errors import ConfigurationError, NotFoundError
from drucker.management import ModelManager
from drucker.models import ModelTable, ServedModel
from drucker.observability import Metrics, Tracing
from drucker.observability.grpc_metrics import prediction_rpcs, recorders
from drucker.observability.traffic_metrics import TrafficMetrics
from drucker.protocol.auth import loopback_waived, protected_methods
from drucker.protocol.dashboard_routing import DruckerDashboardServicer
from drucker.protocol.drucker_worker import SERVICE_NAME as WORKER_SERVICE
from drucker.protocol.drucker_worker import worker_rpc_handler
from drucker.protocol.guard import Guard, guarded_server
from drucker.protocol.health import HealthReporter
from drucker.protocol.v2.dataplane import DataPlane
from drucker.protocol.v2.servicer import InferenceServicer
from drucker.repository import Repository
from drucker.server.memory import MemoryPolicy
from drucker.server.ports import port_in_use
from drucker.traffic.control import TrafficControl

STREAM_CHUNK_BYTES = 1024 * 1024

# The prediction rpcs of both protocols, by protocol label of the drucker_* series.
PREDICTION_RPCS = prediction_rpcs(
    {f"/{WORKER_SERVICE}/": "drucker", "/inference.GRPCInferenceService/ModelInfer": "v2"}
)

SERVICE_NAMES = [
    service.full_name
    for descriptor in (drucker_pb2.DESCRIPTOR, grpc_predict_v2_pb2.DESCRIPTOR)
    for service in descriptor.services_by_name.values()
]


# One of several workers on one port would load or unload a model for itself alone.
WORKER_REFUSAL = (
    "with app.workers > 1 a load or unload would reach one worker only: name the models at "
    "start (--model NAME=FILE, models:) or serve one worker per server"
)


class DruckerServer:
    """Owns the grpc.aio server for one runtime: bind, start, graceful stop.

    With a ``token``, the management rpcs (and whatever the settings add) require it. With
    ``metrics`` every rpc is recorded; with ``tracing`` every rpc gets a span. ``memory`` is the
    process's memory policy (trim after big messages, collector paused for big tensors).

    ``manager`` is the default model's; ``others`` are the other models served from the start;
    ``build`` loads a model of the store by name (the repository's load), ``stored`` lists the
    store's models, ``reload`` loads a served model's serving version again. The rpcs route
    by model name (:attr:`models`).
    """

    def __init__(
        self,
        manager: ModelManager,
        *,
        others: tuple[ModelManager, ...] = (),
        build: Callable[[str], ModelManager] | None = None,
        stored: Callable[[], list[str]] | None = None,
        reload: Callable[[ModelManager], object] | None = None,
        host: str,
        port: int,
        token: str | None,
        reuse_port: bool = False,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
        memory: MemoryPolicy | None = None,
    ):
        runtime = manager.runtime
        settings = runtime.settings
        memory = memory or MemoryPolicy()
        self.runtime = runtime
        self._settings = settings
        self.address = f"{host}:{port}"
        self._probe = None if reuse_port else (host, port)  # checked before gRPC binds
        self._grace = settings.grace_seconds
        self._traced = tracing is not None
        self._metrics = metrics
        default = self.served(manager)
        self.dispatcher = default.dispatcher
        self.models = ModelTable([default, *(self.served(other) for other in others)])
        self.repository = Repository(
            self.models,
            lambda name: self.served(_no_builder(name) if build is None else build(name)),
            stored or self.models.names,
            grace=settings.grace_seconds,
            reload=None if reload is None else (lambda served: reload(served.manager)),
            refusal=WORKER_REFUSAL if reuse_port else "",
            # An engine's models directory: the engine manages the repository, the start
            # model serves beside it (requests naming no model) and is not the engine's.
            unlisted=frozenset({default.name}) if settings.repository_models_dir else frozenset(),
            retired=None if metrics is None else metrics.model_unloaded,
            loaded=lambda name: self.traffic.reinstate(name),  # its policy routes it again
        )
        self._tracing = tracing
        self._sharing: asyncio.Task[None] | None = None
        # Counting and the token check are part of every rpc's guard (no interceptor): only
        # tracing, when asked for, adds OpenTelemetry's interceptor.
        interceptors = [tracing.interceptor()] if tracing is not None else []
        guard = Guard(
            recorder_for=recorders(metrics, PREDICTION_RPCS) if metrics is not None else None,
            token=token or None,
            needs_token=protected_methods(settings),
            trimmer=memory,
            loopback_waived=loopback_waived(settings),
        )
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ],
        )
        self.health = HealthReporter(self.models, SERVICE_NAMES)
        chunk = min(STREAM_CHUNK_BYTES, settings.max_message_bytes // 2)
        registry = guarded_server(self._server, guard)  # every rpc of every service
        registry.add_generic_rpc_handlers(
            (worker_rpc_handler(self.models, chunk, settings.max_message_bytes),)
        )
        self.traffic = TrafficControl(
            self.models, TrafficMetrics(metrics.registry if metrics is not None else None)
        )
        drucker_pb2_grpc.add_DruckerDashboardServicer_to_server(
            DruckerDashboardServicer(self.models, self.traffic), registry
        )
        # shared with the HTTP binding
        self.plane = DataPlane(self.models, memory.collector_paused)
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.plane, self.repository), registry
        )
        drucker_pb2_grpc.add_HealthServicer_to_server(self.health.drucker, registry)
        health_pb2_grpc.add_HealthServicer_to_server(self.health.standard, registry)
        reflected = [
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(reflected), registry
        )
        self.port: int | None = None

    def served(self, manager: ModelManager) -> ServedModel:
        """A model of this server: ``manager``'s runtime with its own dispatcher."""
        dispatcher = Dispatcher(manager.runtime, traced=self._traced)
        if self._metrics is not None:
            self._metrics.watch_admission(dispatcher.admission)
        return ServedModel(manager.runtime.name, manager, dispatcher)

    def bind(self) -> int:
        """Bind the listening socket; return the port (useful when asked for port 0).

        :raises ConfigurationError: when the address cannot be bound (e.g. the port is taken).
        """
        settings = self._settings
        if self._probe is not None and port_in_use(*self._probe):
            raise ConfigurationError(f"cannot listen on {self.address}: the port is in use")
        try:
            if settings.tls_cert:
                credentials = grpc.ssl_server_credentials(
                    [(Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())]
                )
                port = int(self._server.add_secure_port(self.address, credentials))
            else:
                port = int(self._server.add_insecure_port(self.address))
        except RuntimeError as exc:
            raise ConfigurationError(f"cannot listen on {self.address}: {exc}") from None
        if port == 0:
            raise ConfigurationError(f"cannot listen on {self.address}: the port is in use")
        self.port = port
        return port

    @property
    def serving(self) -> bool:
        """Whether predictions are answered: a model is loaded and the server is not draining."""
        return self.models.ready and not self.health.drucker.shutting_down

    async def start(self) -> None:
        """Start answering rpcs and publish the health state."""
        # The rpcs' tasks inherit this context: the batcher and the prediction spans find the
        # metrics and tracing of this server there.
        observability.metrics.use(self._metrics or observability.NO_METRICS)
        observability.tracing.use(self._tracing)
        if self._metrics is not None and self._metrics.multiprocess:
            self._sharing = asyncio.create_task(self._metrics.keep_shared())
        await self._server.start()
        await self.health.refresh()

    async def stop(self, *, alongside: tuple[Awaitable[None], ...] = ()) -> None:
        """Refuse new rpcs, let in-flight ones finish within the grace period, then stop.

        ``alongside`` drains at the same time (another binding's server, e.g. HTTP), before the
        dispatcher they share closes.
        """
        served = list(self.models)
        for model in served:
            model.dispatcher.drain()
        await self.health.shutting_down()
        try:
            await asyncio.gather(self._server.stop(self._grace), *alongside)
        finally:
            for model in served:
                model.dispatcher.close()
        if self._sharing is not None:  # a last write of the worker's counts
            self._sharing.cancel()
            await asyncio.gather(self._sharing, return_exceptions=True)

    async def wait(self) -> None:
        """Wait until the server has stopped."""
        await self._server.wait_for_termination()


def _no_builder(name: str) -> ModelManager:
    raise NotFoundError(f"this server loads no models from its store; {name!r} is not served")


__all__ = ["WORKER_SERVICE", "DruckerServer"]
