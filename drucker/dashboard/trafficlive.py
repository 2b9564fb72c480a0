"""The traffic panel's live charts: readings of a model's traffic figures kept over time.

Each look at the panel's live part reads the service's figures (``AsyncClient.traffic``) and
keeps the reading here, in the dashboard process, for a few minutes. The agreement chart shows
the share of compared answers that agree between consecutive readings (the shadow's counters
are totals since the replica started) and overall; the latency chart shows each version's p50
and p99 as the service reports them at each reading.
"""

from __future__ import annotations

import collections
import threading
import time

import attrs

from drucker.client.types import Traffic
from drucker.dashboard.linecharts import LineChart, line_chart

KEEP = 300  # readings per model (10 minutes at one every 2 s)
Key = tuple[int, str]  # service id, model name


@attrs.frozen
class Reading:
    at: float
    traffic: Traffic


class TrafficReadings:
    """Readings per service and model, the newest :data:`KEEP` of each (thread-safe)."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._readings: dict[Key, collections.deque[Reading]] = {}
        self._lock = threading.Lock()

    def add(self, service_id: int, model: str, traffic: Traffic, at: float | None = None) -> None:
        reading = Reading(time.time() if at is None else at, traffic)
        with self._lock:
            kept = self._readings.setdefault(
                (service_id, model), collections.deque(maxlen=self._keep)
            )
            kept.append(reading)

    def readings(self, service_id: int, model: str) -> list[Reading]:
        with self._lock:
            return list(self._readings.get((service_id, model), ()))

    def forget(self, service_id: int) -> None:
        with self._lock:
            for key in [key for key in self._readings if key[0] == service_id]:
                del self._readings[key]


def agreement_points(readings: list[Reading]) -> dict[str, list[tuple[float, float]]]:
    """The agreement between readings (where answers were compared) and overall."""
    interval: list[tuple[float, float]] = []
    overall: list[tuple[float, float]] = []
    previous: Reading | None = None
    for reading in readings:
        traffic = reading.traffic
        if not traffic.shadow_version:
            previous = None
            continue
        figures = traffic.shadow
        if figures.agreement is not None:
            overall.append((reading.at, figures.agreement))
        if previous is not None and previous.traffic.shadow_version == traffic.shadow_version:
            agree = figures.agree - previous.traffic.shadow.agree
            disagree = figures.disagree - previous.traffic.shadow.disagree
            if agree < 0 or disagree < 0:  # the replica restarted: its totals began again
                agree, disagree = figures.agree, figures.disagree
            if agree + disagree:
                interval.append((reading.at, agree / (agree + disagree)))
        previous = reading
    return {"agreement (recent)": interval, "agreement (overall)": overall}


def latency_points(readings: list[Reading]) -> dict[str, list[tuple[float, float]]]:
    """Each answering version's p50 and p99, and the shadow's, in milliseconds."""
    series: dict[str, list[tuple[float, float]]] = {}
    for reading in readings:
        traffic = reading.traffic
        answering = set(traffic.split) or {traffic.serving}
        for figures in traffic.versions:
            if figures.version in answering and figures.requests:
                series.setdefault(f"{figures.version} p50", []).append(
                    (reading.at, figures.latency_p50_ms)
                )
                series.setdefault(f"{figures.version} p99", []).append(
                    (reading.at, figures.latency_p99_ms)
                )
        shadow = traffic.shadow
        if traffic.shadow_version and shadow.agree + shadow.disagree + shadow.shadow_error:
            name = f"{traffic.shadow_version} (shadow)"
            series.setdefault(f"{name} p50", []).append((reading.at, shadow.shadow_latency_p50_ms))
            series.setdefault(f"{name} p99", []).append((reading.at, shadow.shadow_latency_p99_ms))
    return series


def charts(readings: list[Reading], now: float | None = None) -> tuple[LineChart, LineChart]:
    """The agreement chart (0 to 1) and the latency chart (ms) of a model's readings."""
    at = now if now is not None else (readings[-1].at if readings else time.time())
    agreement = line_chart(agreement_points(readings), y_max=1.0, now=at)
    latency = line_chart(latency_points(readings), y_format="{:.3g} ms", now=at)
    return agreement, latency
