"""Per-rpc series: the standard gRPC server series for every rpc, drucker's for predictions.

The counts are plain numbers updated on the event loop, where every rpc is answered, and
turned into metric families when scraped. A prometheus_client counter, gauge or histogram
update takes a lock (and with several workers writes a memory-mapped file): an rpc needs nine
of them, about 15 us in one process and 27 us with the multiprocess files, against 1.5 us for
these additions (``python -m benchmarks.metrics_cost``).

With several worker processes each worker also writes its counts to a small JSON file in the
multiprocess directory, every second and before each scrape it answers; a scrape sums the
files of all workers (:class:`WorkersRpcStatsCollector`). A worker's file outlives it, so its
counts stay in the sums (its requests in flight do not).
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from drucker.observability.routed import MODEL as _ROUTED

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
    "Prediction requests answered (gRPC and REST), by protocol, model, rpc and gRPC status code.",
)
DURATION = (
    "drucker_request_duration_seconds",
    "Time from receiving a prediction request to its last answer, by model, in seconds.",
)
INFLIGHT = ("drucker_inflight_requests", "Prediction requests being answered now.")
# The first label of a method that is not a gRPC one (the V2 REST binding's inference): it
# counts in drucker's series only, not in the ``grpc_server_*`` ones.
HTTP_TYPE = "http"

_routed_model = _ROUTED.get


class ModelCounts:
    """The ends of one method's rpcs routed to one model: status codes and latencies."""

    __slots__ = ("buckets", "codes", "sum")

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {"codes": dict(self.codes), "buckets": list(self.buckets), "sum": self.sum}

    def add(self, snapshot: dict[str, Any]) -> None:
        for code, count in snapshot["codes"].items():
            self.codes[code] = self.codes.get(code, 0) + count
        self.buckets = [a + b for a, b in zip(self.buckets, snapshot["buckets"], strict=True)]
        self.sum += snapshot["sum"]

    def merge(self, other: ModelCounts) -> None:
        self.add(other.snapshot())

    def histogram(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs as the exposition wants them."""
        pairs, total = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.buckets, strict=True):
            total += count
            pairs.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return pairs


class LoopRpcStats:
    """The counts of one method, updated on the event loop only (no locks).

    It is the rpc guard's recorder (:class:`drucker.protocol.guard.RpcRecorder`, whose
    consumer declares it): :meth:`started` when an rpc starts, :meth:`finished` when it ends.
    An rpc's end is counted under the model it was routed to (:mod:`routed`; ``""`` for none):
    the ``grpc_server_*`` series sum over the models when scraped.
    """

    __slots__ = ("inflight", "labels", "models", "protocol", "rpc", "started_count")

    def __init__(self, labels: tuple[str, str, str], protocol: str | None) -> None:
        self.labels = labels
        self.protocol = protocol
        self.rpc = labels[2]
        self.started_count = 0
        self.inflight = 0
        self.models: dict[str, ModelCounts] = {}

    def started(self) -> float:
        self.started_count += 1
        self.inflight += 1
        return time.perf_counter()

    def finished(self, started: float, code: str) -> None:
        seconds = time.perf_counter() - started
        self.inflight -= 1
        model = _routed_model()
        counts = self.models.get(model)
        if counts is None:
            counts = self.models[model] = ModelCounts()
        counts.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts.sum += seconds
        codes = counts.codes
        codes[code] = codes.get(code, 0) + 1

    def total(self) -> ModelCounts:
        """The counts summed over the models."""
        total = ModelCounts()
        for counts in list(self.models.values()):
            total.merge(counts)
        return total

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON-friendly data (see :meth:`add`)."""
        return {
            "labels": list(self.labels),
            "protocol": self.protocol,
            "started": self.started_count,
            "inflight": self.inflight,
            "models": {model: counts.snapshot() for model, counts in list(self.models.items())},
        }

    def add(self, snapshot: dict[str, Any], live: bool) -> None:
        """Add another process's counts (its requests in flight only while it lives)."""
        self.started_count += snapshot["started"]
        if live:
            self.inflight += snapshot["inflight"]
        for model, counts in snapshot["models"].items():
            mine = self.models.get(model)
            if mine is None:
                mine = self.models[model] = ModelCounts()
            mine.add(counts)


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
        yield from _families(list(self._methods.values()))

    def write(self, path: Path) -> None:
        """Write the counts to ``path`` (atomically: a scrape never reads half a file)."""
        data = [stats.snapshot() for stats in list(self._methods.values())]
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)


def _families(methods: Iterable[LoopRpcStats]) -> Iterator[Metric]:
    """The metric families of the per-rpc series."""
    started = CounterMetricFamily(*STARTED, labels=GRPC_LABELS)
    handled = CounterMetricFamily(*HANDLED, labels=(*GRPC_LABELS, "grpc_code"))
    handling = HistogramMetricFamily(*HANDLING, labels=GRPC_LABELS)
    requests = CounterMetricFamily(*REQUESTS, labels=("protocol", "model", "rpc", "code"))
    duration = HistogramMetricFamily(*DURATION, labels=("protocol", "model", "rpc"))
    inflight = GaugeMetricFamily(*INFLIGHT, labels=("protocol",))
    inflight_by_protocol: dict[str, int] = {}
    for stats in methods:
        labels = list(stats.labels)
        if labels[0] != HTTP_TYPE:
            total = stats.total()
            started.add_metric(labels, stats.started_count)
            handling.add_metric(labels, total.histogram(), total.sum)
            for code, count in total.codes.items():
                handled.add_metric([*labels, code], count)
        protocol = stats.protocol
        if protocol is None:
            continue
        for model, counts in list(stats.models.items()):
            for code, count in list(counts.codes.items()):
                requests.add_metric([protocol, model, stats.rpc, code], count)
            duration.add_metric([protocol, model, stats.rpc], counts.histogram(), counts.sum)
        inflight_by_protocol[protocol] = inflight_by_protocol.get(protocol, 0) + stats.inflight
    for protocol, count in inflight_by_protocol.items():
        inflight.add_metric([protocol], count)
    yield from (started, handled, handling, requests, duration, inflight)


SNAPSHOT_PREFIX = "drucker_rpcs_"


def snapshot_path(directory: str, pid: int, started_ns: int) -> Path:
    """Where a worker writes its counts (one file per process start, so a reused pid does
    not overwrite a dead worker's counts)."""
    return Path(directory) / f"{SNAPSHOT_PREFIX}{pid}_{started_ns}.json"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkersRpcStatsCollector(Collector):
    """The per-rpc series summed over the count files of every worker in ``directory``."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    def collect(self) -> Iterator[Metric]:
        merged: dict[tuple[str, str, str], LoopRpcStats] = {}
        for path in sorted(self._directory.glob(f"{SNAPSHOT_PREFIX}*.json")):
            try:
                snapshots = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # removed meanwhile (the supervisor is cleaning up)
            pid = int(path.stem.removeprefix(SNAPSHOT_PREFIX).split("_")[0])
            live = process_alive(pid)
            for snapshot in snapshots:
                grpc_type, service, method = snapshot["labels"]
                labels = (str(grpc_type), str(service), str(method))
                stats = merged.get(labels)
                if stats is None:
                    stats = merged[labels] = LoopRpcStats(labels, snapshot["protocol"])
                stats.add(snapshot, live)
        yield from _families(merged.values())
