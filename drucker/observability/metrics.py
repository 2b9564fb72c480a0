"""Prometheus metrics of one server: the series, how they are recorded and exposed.

Everything else in drucker records through a :class:`Metrics` (or the ambient
:func:`observe_batch`) and never imports ``prometheus_client``. Each :class:`Metrics` has its
own registry, so several servers in one process (tests) keep their counts apart.

With several worker processes the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before the
workers start; each worker then writes its values to files there and a scrape of any worker
answers the sum over all of them (``prometheus_client``'s multiprocess mode).
"""

from __future__ import annotations

import contextvars
import os
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from drucker.observability.grpc_metrics import MetricsInterceptor, PredictionRpcs

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Sub-millisecond models up to multi-second ones.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process is one of several workers."""
    return os.environ.get(MULTIPROCESS_ENV) or None


class Metrics:
    """The series of one drucker server, registered in a registry of its own."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        registry = self.registry = CollectorRegistry(auto_describe=True)
        if not self.multiprocess:  # per-process figures cannot be summed over workers
            from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        grpc_labels = ("grpc_type", "grpc_service", "grpc_method")
        self.grpc_started = Counter(
            "grpc_server_started_total",
            "RPCs started on the server.",
            grpc_labels,
            registry=registry,
        )
        self.grpc_handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, regardless of success or failure.",
            (*grpc_labels, "grpc_code"),
            registry=registry,
        )
        self.grpc_handling = Histogram(  # Prometheus' default buckets, as py-grpc-prometheus
            "grpc_server_handling_seconds",
            "Response latency of RPCs handled by the server, in seconds.",
            grpc_labels,
            registry=registry,
        )
        self.requests = Counter(
            "drucker_requests_total",
            "Prediction rpcs answered, by protocol, rpc and gRPC status code.",
            ("protocol", "rpc", "code"),
            registry=registry,
        )
        self.request_duration = Histogram(
            "drucker_request_duration_seconds",
            "Time from receiving a prediction rpc to its last answer, in seconds.",
            ("protocol", "rpc"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inflight = Gauge(
            "drucker_inflight_requests",
            "Prediction rpcs being answered now.",
            ("protocol",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.batch_size = Histogram(
            "drucker_batch_size",
            "Number of requests in each batch the adaptive batcher formed.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.model_info = Gauge(
            "drucker_model_info",
            "1 for the model serving now (name and sha256 of the file), 0 for earlier ones.",
            ("name", "sha256"),
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.model_switches = Counter(
            "drucker_model_switches_total",
            "Model switches requested through the management rpcs, by result (ok, failed).",
            ("result",),
            registry=registry,
        )
        self._serving: tuple[str, str] | None = None

    # -- recording ---------------------------------------------------------------------------

    def interceptor(self, prediction_rpcs: PredictionRpcs) -> MetricsInterceptor:
        """The grpc.aio interceptor that records every rpc (and the prediction rpcs' series)."""
        from drucker.observability.grpc_metrics import MetricsInterceptor

        return MetricsInterceptor(self, prediction_rpcs)

    def observe_batch(self, size: int) -> None:
        """Record the size of a batch the batcher formed."""
        self.batch_size.observe(size)

    def model_serving(self, name: str, sha256: str | None) -> None:
        """Record that ``name`` serves now (``drucker_model_info`` 1; the previous one 0)."""
        labels = (name, sha256 or "")
        if self._serving is not None and self._serving != labels:
            self.model_info.labels(*self._serving).set(0)
        self.model_info.labels(*labels).set(1)
        self._serving = labels

    def model_switched(self, ok: bool) -> None:
        """Count one switch requested through the management rpcs."""
        self.model_switches.labels("ok" if ok else "failed").inc()

    # -- exposition --------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every series (summed over workers) and its content type."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class NoMetrics(Metrics):
    """Records nothing: what management and the batcher get when metrics are off."""

    def __init__(self) -> None:  # no registry, no series
        pass

    def observe_batch(self, size: int) -> None:
        pass

    def model_serving(self, name: str, sha256: str | None) -> None:
        pass

    def model_switched(self, ok: bool) -> None:
        pass


NO_METRICS = NoMetrics()

# The metrics of the server whose rpc is running: set by the server before it starts, so the
# rpcs' tasks (and the batches they start) inherit it; several servers in one process each see
# their own.
_current: contextvars.ContextVar[Metrics] = contextvars.ContextVar(
    "drucker_metrics", default=NO_METRICS
)


def use(metrics: Metrics) -> None:
    """Make ``metrics`` the recorder of the current context (and the tasks started from it)."""
    _current.set(metrics)


def observe_batch(size: int) -> None:
    """Record a batch's size with the metrics of the server whose rpc formed it."""
    _current.get().observe_batch(size)


def mark_worker_exited(directory: str, pid: int) -> None:
    """Drop the live gauges of a worker that exited (its counters keep counting in the sum)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
