"""The admission series: predictions waiting per model, refused and dropped ones, wait times.

Read from the admission's plain counts when scraped (no prometheus_client update per request):

- ``drucker_queued_predictions{model}`` (gauge): predictions waiting for the model now, the
  figure an autoscaler scales on (a KEDA ``prometheus`` trigger or an HPA external metric);
- ``drucker_refused_requests_total{model, reason}``: turned away before they queued
  (``queue_full``, or a caller already past its ``deadline`` or ``cancelled``);
- ``drucker_dropped_requests_total{model, reason}``: taken out of the queue unrun because the
  caller's ``deadline`` passed or it ``cancelled`` while waiting;
- ``drucker_queue_wait_seconds{model}`` (histogram): time from admission to the plugin call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

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
        self._watched: list[AdmissionCounts] = []

    def watch(self, admission: AdmissionCounts) -> None:
        """Report ``admission``'s counts from now on."""
        self._watched.append(admission)

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily(*QUEUED, labels=("model",))
        refused = CounterMetricFamily(*REFUSED, labels=("model", "reason"))
        dropped = CounterMetricFamily(*DROPPED, labels=("model", "reason"))
        wait = HistogramMetricFamily(*WAIT, labels=("model",))
        for admission in self._watched:
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
