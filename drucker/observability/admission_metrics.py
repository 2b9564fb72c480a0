"""The admission series: predictions waiting per model, refused and dropped ones, wait times.

Read from the admission's plain counts when scraped (no prometheus_client update per request):

- ``drucker_queued_predictions{model}`` (gauge): predictions waiting for the model now, the
  figure an autoscaler scales on (a KEDA ``prometheus`` trigger or an HPA external metric);
- ``drucker_refused_requests_total{model, reason}``: turned away before they queued
  (``queue_full``, or a caller already past its ``deadline`` or ``cancelled``);
- ``drucker_dropped_requests_total{model, reason}``: taken out of the queue unrun because the
  caller's ``deadline`` passed or it ``cancelled`` while waiting;
- ``drucker_queue_wait_seconds{model}`` (histogram): time from admission to the plugin call.

With several workers each writes its counts to a file of the multiprocess directory with its
rpc counts (:meth:`AdmissionCollector.write`), and a scrape sums the files of all workers
(:class:`WorkersAdmissionCollector`; a worker that exited keeps its counts, not its queue).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from drucker.observability.rpc_stats import process_alive

SNAPSHOT_PREFIX = "drucker_admission_"

QUEUED = ("drucker_queued_predictions", "Predictions waiting for the model now.")
REFUSED = (
    "drucker_refused_requests_total",
    "Prediction requests refused before they queued, by reason (queue_full, deadline, cancelled).",
)
DROPPED = (
    "drucker_dropped_requests_total",
    "Queued predictions dropped unrun because the caller's deadline passed or it cancelled.",
)
WAIT = (
    "drucker_queue_wait_seconds",
    "Time predictions waited in the queue before the plugin ran them, in seconds.",
)


class AdmissionCounts(Protocol):
    """What the collector reads of a :class:`drucker.admission.Admission`."""

    model: str
    waiting: int
    refused: dict[str, int]
    dropped: dict[str, int]
    wait_bounds: tuple[float, ...]
    wait_buckets: list[int]
    wait_sum: float


class AdmissionCollector(Collector):
    """The admission series of the models whose admissions it watches."""

    def __init__(self) -> None:
        self._watched: dict[str, AdmissionCounts] = {}

    def watch(self, admission: AdmissionCounts) -> None:
        """Report ``admission``'s counts from now on (instead of an earlier one of its model)."""
        self._watched[admission.model] = admission

    def forget(self, model: str) -> None:
        """Stop reporting ``model``'s counts (it is no longer served)."""
        self._watched.pop(model, None)

    def collect(self) -> Iterator[Metric]:
        yield from _families(list(self._watched.values()))

    def write(self, path: Path) -> None:
        """Write the counts to ``path`` (atomically: a scrape never reads half a file)."""
        data = [_snapshot(admission) for admission in list(self._watched.values())]
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)


@attrs.define
class _Summed:
    """Admission counts of one model summed over workers (an :class:`AdmissionCounts`)."""

    model: str
    wait_bounds: tuple[float, ...]
    wait_buckets: list[int]
    waiting: int = 0
    refused: dict[str, int] = attrs.field(factory=dict)
    dropped: dict[str, int] = attrs.field(factory=dict)
    wait_sum: float = 0.0

    def add(self, snapshot: dict[str, Any], live: bool) -> None:
        if live:
            self.waiting += snapshot["waiting"]
        for mine, theirs in (
            (self.refused, snapshot["refused"]),
            (self.dropped, snapshot["dropped"]),
        ):
            for reason, count in theirs.items():
                mine[reason] = mine.get(reason, 0) + count
        self.wait_buckets = [
            a + b for a, b in zip(self.wait_buckets, snapshot["wait_buckets"], strict=True)
        ]
        self.wait_sum += snapshot["wait_sum"]


class WorkersAdmissionCollector(Collector):
    """The admission series summed over the count files of every worker in ``directory``."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    def collect(self) -> Iterator[Metric]:
        summed: dict[str, _Summed] = {}
        for path in sorted(self._directory.glob(f"{SNAPSHOT_PREFIX}*.json")):
            try:
                snapshots = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # removed meanwhile
            live = process_alive(int(path.stem.removeprefix(SNAPSHOT_PREFIX).split("_")[0]))
            for snapshot in snapshots:
                model = str(snapshot["model"])
                if model not in summed:
                    bounds = tuple(snapshot["wait_bounds"])
                    summed[model] = _Summed(model, bounds, [0] * (len(bounds) + 1))
                summed[model].add(snapshot, live)
        yield from _families(summed.values())


def snapshot_path(directory: str, pid: int, started_ns: int) -> Path:
    """Where a worker writes its admission counts."""
    return Path(directory) / f"{SNAPSHOT_PREFIX}{pid}_{started_ns}.json"


def _snapshot(admission: AdmissionCounts) -> dict[str, Any]:
    return {
        "model": admission.model,
        "waiting": admission.waiting,
        "refused": dict(admission.refused),
        "dropped": dict(admission.dropped),
        "wait_bounds": list(admission.wait_bounds),
        "wait_buckets": list(admission.wait_buckets),
        "wait_sum": admission.wait_sum,
    }


def _families(admissions: Iterable[AdmissionCounts]) -> Iterator[Metric]:
    """The metric families of the admission series."""
    queued = GaugeMetricFamily(*QUEUED, labels=("model",))
    refused = CounterMetricFamily(*REFUSED, labels=("model", "reason"))
    dropped = CounterMetricFamily(*DROPPED, labels=("model", "reason"))
    wait = HistogramMetricFamily(*WAIT, labels=("model",))
    for admission in admissions:
        model = admission.model
        queued.add_metric([model], admission.waiting)
        for reason, count in list(admission.refused.items()):
            refused.add_metric([model, reason], count)
        for reason, count in list(admission.dropped.items()):
            dropped.add_metric([model, reason], count)
        wait.add_metric([model], _cumulative(admission), admission.wait_sum)
    yield from (queued, refused, dropped, wait)


def _cumulative(admission: AdmissionCounts) -> list[tuple[str, float]]:
    pairs, total = [], 0
    bounds = (*admission.wait_bounds, float("inf"))
    for bound, count in zip(bounds, list(admission.wait_buckets), strict=True):
        total += count
        pairs.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
    return pairs
