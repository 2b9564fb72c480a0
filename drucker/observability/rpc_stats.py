"""Per-rpc series: the standard gRPC server series for every rpc, drucker's for predictions.

Two ways to keep them, one interface (:class:`RpcRecorder`):

- one process (the default): plain counters updated on the event loop, where every rpc is
  answered, and turned into metric families when scraped (:class:`RpcStatsCollector`). A
  prometheus_client counter, gauge or histogram update takes a lock and about a microsecond
  each; an rpc needs nine of them, so this keeps the metrics' cost per request to a few
  additions (measured by ``python -m benchmarks.metrics_cost``);
- several worker processes: prometheus_client's own metrics (:class:`SharedRpcRecorder`),
  whose values live in the multiprocess files that a scrape sums over the workers.

Both give the same names, labels and buckets.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# Sub-millisecond models up to multi-second ones; for every rpc and the prediction rpcs alike.
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
GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
STARTED = ("grpc_server_started_total", "RPCs started on the server.")
HANDLED = (
    "grpc_server_handled_total",
    "RPCs completed on the server, regardless of success or failure.",
)
HANDLING = (
    "grpc_server_handling_seconds",
    "Response latency of RPCs handled by the server, in seconds.",
)
REQUESTS = (
    "drucker_requests_total",
    "Prediction rpcs answered, by protocol, rpc and gRPC status code.",
)
DURATION = (
    "drucker_request_duration_seconds",
    "Time from receiving a prediction rpc to its last answer, in seconds.",
)
INFLIGHT = ("drucker_inflight_requests", "Prediction rpcs being answered now.")


class RpcRecorder(Protocol):
    """Records the rpcs of one method."""

    def started(self) -> float:
        """Count an rpc as started; return its start time for :meth:`finished`."""

    def finished(self, started: float, code: str) -> None:
        """Count the rpc as finished with status ``code`` (a ``grpc.StatusCode`` name)."""


class LoopRpcStats:
    """The counts of one method, updated on the event loop only (no locks)."""

    __slots__ = (
        "buckets",
        "codes",
        "inflight",
        "labels",
        "protocol",
        "rpc",
        "started_count",
        "sum",
    )

    def __init__(self, labels: tuple[str, str, str], protocol: str | None) -> None:
        self.labels = labels
        self.protocol = protocol
        self.rpc = labels[2]
        self.started_count = 0
        self.inflight = 0
        self.codes: dict[str, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def started(self) -> float:
        self.started_count += 1
        self.inflight += 1
        return time.perf_counter()

    def finished(self, started: float, code: str) -> None:
        seconds = time.perf_counter() - started
        self.inflight -= 1
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1

    def histogram(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs as the exposition wants them."""
        pairs, total = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.buckets, strict=True):
            total += count
            pairs.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return pairs


class RpcStatsCollector(Collector):
    """Turns the :class:`LoopRpcStats` of every method into metric families when scraped.

    Scrape it on the event loop too (the exposition is cheap), so that it reads whole counts.
    """

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str, str], LoopRpcStats] = {}

    def recorder(self, labels: tuple[str, str, str], protocol: str | None) -> LoopRpcStats:
        """The counts of the method with these labels (made on first use)."""
        stats = self._methods.get(labels)
        if stats is None:
            stats = self._methods[labels] = LoopRpcStats(labels, protocol)
        return stats

    def collect(self) -> Iterator[Metric]:
        methods = list(self._methods.values())
        started = CounterMetricFamily(*STARTED, labels=GRPC_LABELS)
        handled = CounterMetricFamily(*HANDLED, labels=(*GRPC_LABELS, "grpc_code"))
        handling = HistogramMetricFamily(*HANDLING, labels=GRPC_LABELS)
        requests = CounterMetricFamily(*REQUESTS, labels=("protocol", "rpc", "code"))
        duration = HistogramMetricFamily(*DURATION, labels=("protocol", "rpc"))
        inflight = GaugeMetricFamily(*INFLIGHT, labels=("protocol",))
        inflight_by_protocol: dict[str, int] = {}
        for stats in methods:
            labels = list(stats.labels)
            started.add_metric(labels, stats.started_count)
            buckets = stats.histogram()
            handling.add_metric(labels, buckets, stats.sum)
            for code, count in list(stats.codes.items()):
                handled.add_metric([*labels, code], count)
                if stats.protocol is not None:
                    requests.add_metric([stats.protocol, stats.rpc, code], count)
            if stats.protocol is not None:
                duration.add_metric([stats.protocol, stats.rpc], buckets, stats.sum)
                inflight_by_protocol[stats.protocol] = (
                    inflight_by_protocol.get(stats.protocol, 0) + stats.inflight
                )
        for protocol, count in inflight_by_protocol.items():
            inflight.add_metric([protocol], count)
        yield from (started, handled, handling, requests, duration, inflight)


class SharedRpcMetrics:
    """The per-rpc series as prometheus_client metrics (for the multiprocess files)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(*STARTED, GRPC_LABELS, registry=registry)
        self.handled = Counter(*HANDLED, (*GRPC_LABELS, "grpc_code"), registry=registry)
        self.handling = Histogram(
            *HANDLING, GRPC_LABELS, buckets=LATENCY_BUCKETS, registry=registry
        )
        self.requests = Counter(*REQUESTS, ("protocol", "rpc", "code"), registry=registry)
        self.duration = Histogram(
            *DURATION, ("protocol", "rpc"), buckets=LATENCY_BUCKETS, registry=registry
        )
        self.inflight = Gauge(
            *INFLIGHT, ("protocol",), multiprocess_mode="livesum", registry=registry
        )

    def recorder(self, labels: tuple[str, str, str], protocol: str | None) -> SharedRpcRecorder:
        return SharedRpcRecorder(self, labels, protocol)


class SharedRpcRecorder:
    """The metric children of one method, resolved once."""

    def __init__(
        self, metrics: SharedRpcMetrics, labels: tuple[str, str, str], protocol: str | None
    ) -> None:
        self._handled = metrics.handled
        self._labels = labels
        self._started = metrics.started.labels(*labels)
        self._handling = metrics.handling.labels(*labels)
        self._by_code: dict[str, Any] = {}
        self._predicting = protocol is not None
        if protocol is not None:
            self._requests = metrics.requests
            self._protocol, self._rpc = protocol, labels[2]
            self._duration = metrics.duration.labels(protocol, labels[2])
            self._inflight = metrics.inflight.labels(protocol)
            self._requests_by_code: dict[str, Any] = {}

    def started(self) -> float:
        self._started.inc()
        if self._predicting:
            self._inflight.inc()
        return time.perf_counter()

    def finished(self, started: float, code: str) -> None:
        seconds = time.perf_counter() - started
        self._handling.observe(seconds)
        handled = self._by_code.get(code)
        if handled is None:
            handled = self._by_code[code] = self._handled.labels(*self._labels, code)
        handled.inc()
        if self._predicting:
            self._inflight.dec()
            self._duration.observe(seconds)
            requests = self._requests_by_code.get(code)
            if requests is None:
                requests = self._requests_by_code[code] = self._requests.labels(
                    self._protocol, self._rpc, code
                )
            requests.inc()
