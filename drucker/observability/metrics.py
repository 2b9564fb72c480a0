"""Prometheus metrics of one server: the series, how they are recorded and exposed.

Everything else in drucker records through a :class:`Metrics` (or the ambient
:func:`observe_batch`) and never imports ``prometheus_client``. Each :class:`Metrics` has its
own registry, so several servers in one process (tests) keep their counts apart.

With several worker processes the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before the
workers start; each worker then writes its values to files there and a scrape of any worker
answers the sum over all of them (``prometheus_client``'s multiprocess mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from drucker.observability.admission_metrics import (
    AdmissionCollector,
    AdmissionCounts,
    WorkersAdmissionCollector,
)
from drucker.observability.admission_metrics import snapshot_path as admission_snapshot_path
from drucker.observability.rpc_stats import (
    HTTP_TYPE,
    LoopRpcStats,
    RpcStatsCollector,
    WorkersRpcStatsCollector,
    snapshot_path,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The protocol label of the V2 REST binding's requests, and the name its methods go by.
REST_PROTOCOL = "rest"
REST_SERVICE = "inference.rest"

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
        # The per-rpc series: plain counts on the event loop (see rpc_stats), written to a file
        # of the multiprocess directory when there are several workers.
        self._rpcs = RpcStatsCollector()
        registry.register(self._rpcs)
        directory = multiprocess_dir()
        started_ns = time.time_ns()
        self._snapshot = snapshot_path(directory, os.getpid(), started_ns) if directory else None
        self._admission_snapshot = (
            admission_snapshot_path(directory, os.getpid(), started_ns) if directory else None
        )
        self.batch_size = Histogram(
            "drucker_batch_size",
            "Number of requests in each batch the adaptive batcher formed.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.model_info = Gauge(
            "drucker_model_info",
            "1 for each model's version serving now (and the sha256 of its file), 0 for earlier"
            " ones.",
            ("model", "version", "sha256"),
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.model_switches = Counter(
            "drucker_model_switches_total",
            "Model switches requested through the management rpcs, by model and result"
            " (ok, failed).",
            ("model", "result"),
            registry=registry,
        )
        self._serving: dict[str, tuple[str, str, str]] = {}  # model -> its info labels
        self._admissions = AdmissionCollector()
        registry.register(self._admissions)

    # -- recording ---------------------------------------------------------------------------

    def rpc_recorder(self, labels: tuple[str, str, str], protocol: str | None) -> LoopRpcStats:
        """The recorder of one method (``grpc_type``, ``grpc_service``, ``grpc_method``);
        ``protocol`` names the prediction rpcs' protocol, ``None`` for the others.

        :func:`drucker.observability.grpc_metrics.recorders` gives the rpc guard each method's.
        """
        return self._rpcs.recorder(labels, protocol)

    def rest_recorder(self, rpc: str) -> LoopRpcStats:
        """The recorder of the V2 REST binding's ``rpc`` (e.g. ``ModelInfer``): counted in
        drucker's series with ``protocol="rest"``, beside the gRPC protocols."""
        return self._rpcs.recorder((HTTP_TYPE, REST_SERVICE, rpc), REST_PROTOCOL)

    def observe_batch(self, size: int) -> None:
        """Record the size of a batch the batcher formed."""
        self.batch_size.observe(size)

    def model_serving(self, model: str, version: str, sha256: str | None) -> None:
        """Record that ``model`` serves ``version`` now (``drucker_model_info`` 1; the version
        it served before 0)."""
        labels = (model, version, sha256 or "")
        previous = self._serving.get(model)
        if previous is not None and previous != labels:
            self.model_info.labels(*previous).set(0)
        self.model_info.labels(*labels).set(1)
        self._serving[model] = labels

    def model_switched(self, model: str, ok: bool) -> None:
        """Count one switch of ``model`` requested through the management rpcs."""
        self.model_switches.labels(model, "ok" if ok else "failed").inc()

    def watch_admission(self, admission: AdmissionCounts) -> None:
        """Expose a model's admission counts (queued, refused, dropped, wait times); a model
        of the same name watched before is replaced."""
        self._admissions.watch(admission)

    def model_unloaded(self, model: str) -> None:
        """Drop the series of a model the server no longer serves (its info and admission;
        the request counts keep counting in the rpc series)."""
        self._admissions.forget(model)
        previous = self._serving.pop(model, None)
        if previous is not None:
            with contextlib.suppress(KeyError):
                self.model_info.remove(*previous)

    # -- exposition --------------------------------------------------------------------------

    def share(self) -> None:
        """With several workers: write this worker's rpc counts for the others' scrapes.

        Call it on the event loop (where the counts change), so it writes whole rpcs.
        """
        if self._snapshot is not None:
            self._rpcs.write(self._snapshot)
        if self._admission_snapshot is not None:
            self._admissions.write(self._admission_snapshot)

    async def keep_shared(self, interval: float = 1.0) -> None:
        """:meth:`share` every ``interval`` seconds until cancelled, and once more then."""
        try:
            while True:
                await asyncio.sleep(interval)
                self.share()
        finally:
            self.share()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every series (summed over workers) and its content type.

        In one process, call it on the event loop (where the rpc counts change); with several
        workers, after :meth:`share` on the loop, in a thread (it reads every worker's files).
        """
        directory = multiprocess_dir()
        if directory is not None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(WorkersRpcStatsCollector(directory))
            registry.register(WorkersAdmissionCollector(directory))
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class NoMetrics(Metrics):
    """Records nothing: what management and the batcher get when metrics are off."""

    def __init__(self) -> None:  # no registry, no series
        pass

    def observe_batch(self, size: int) -> None:
        pass

    def share(self) -> None:
        pass

    def model_serving(self, model: str, version: str, sha256: str | None) -> None:
        pass

    def model_switched(self, model: str, ok: bool) -> None:
        pass

    def watch_admission(self, admission: AdmissionCounts) -> None:
        pass

    def model_unloaded(self, model: str) -> None:
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
