"""OpenTelemetry tracing, when the ``otel`` extra is installed and ``OTEL_*`` asks for it.

A server span per rpc comes from OpenTelemetry's own grpc.aio server interceptor (W3C trace
context from the incoming metadata; health and reflection rpcs are left out); a child span
``drucker.predict`` covers the prediction through the batcher, thread or event loop, with the
model's name and sha256. Spans go to the OTLP exporter configured by the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` ...).

Without the extra, or without a trace exporter configured, nothing of OpenTelemetry is
imported and :func:`predict_span` is a shared no-op context.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc.aio
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from drucker.kinds import Kind

# gRPC health and reflection rpcs make no useful spans (probes call them every few seconds).
UNTRACED_SERVICE_PREFIXES = ("grpc.health.", "grpc.reflection.", "drucker.Health")
_EXPORTER_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint or ``OTEL_TRACES_EXPORTER``)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return exporter in ("otlp", "console") or any(env.get(name) for name in _EXPORTER_VARIABLES)


class Tracing:
    """The tracer provider of a server, its rpc interceptor and the prediction spans."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("drucker")

    @classmethod
    def from_environment(cls, service_name: str) -> Tracing | None:
        """Tracing configured by ``OTEL_*``; ``None`` when not asked for or not installed.

        ``service_name`` (the application name) is used unless ``OTEL_SERVICE_NAME`` or
        ``OTEL_RESOURCE_ATTRIBUTES`` name the service.
        """
        if not wanted():
            return None
        try:
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        except ImportError:
            return None
        resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
        named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""
        )
        if not named:
            resource = resource.merge(Resource({SERVICE_NAME: service_name}))
        provider = TracerProvider(resource=resource)
        if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
            exporter: Any = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        """OpenTelemetry's grpc.aio server interceptor, for every rpc but health and reflection."""
        from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

        untraced = filters.any_of(*(filters.service_prefix(p) for p in UNTRACED_SERVICE_PREFIXES))
        interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider, filter_=filters.negate(untraced)
        )
        return interceptor

    def shutdown(self) -> None:
        """Export the spans still queued and stop the exporter."""
        self.provider.shutdown()


_NOT_TRACED: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
_current: contextvars.ContextVar[Tracing | None] = contextvars.ContextVar(
    "drucker_tracing", default=None
)


def use(tracing: Tracing | None) -> None:
    """Make ``tracing`` that of the current context (and the rpc tasks started from it)."""
    _current.set(tracing)


def predict_span(
    model: Any, input_kind: Kind, output_kind: Kind, rows: int = 1
) -> contextlib.AbstractContextManager[Any]:
    """A ``drucker.predict`` span, child of the rpc's span, for one prediction call.

    ``model`` is the serving :class:`~drucker.runtime.ActiveModel` (or ``None``).
    """
    tracing = _current.get()
    if tracing is None:
        return _NOT_TRACED
    attributes = {
        "drucker.model.name": getattr(model, "name", None) or "",
        "drucker.model.sha256": getattr(model, "sha256", None) or "",
        "drucker.input_kind": input_kind.value,
        "drucker.output_kind": output_kind.value,
        "drucker.rows": rows,
    }
    return tracing.tracer.start_as_current_span("drucker.predict", attributes=attributes)
