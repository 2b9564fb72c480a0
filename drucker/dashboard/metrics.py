"""Request rate and p99 latency of a service from two scrapes of its Prometheus endpoint.

The service exports ``drucker_requests_total`` (a counter) and
``drucker_request_duration_seconds`` (a histogram); both are summed over their labels, and
the figures describe the interval between the last two scrapes.
"""

from __future__ import annotations

import math
import time

import attrs
from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "drucker_requests_total"
DURATION_BUCKET = "drucker_request_duration_seconds_bucket"


@attrs.frozen
class Sample:
    """The totals of one scrape: requests, and the cumulative duration buckets by bound."""

    at: float
    requests: float
    buckets: dict[float, float]


@attrs.frozen
class Traffic:
    """What a pair of scrapes says: requests per second and the p99 latency in seconds."""

    request_rate: float
    p99_seconds: float | None


def parse(text: str, at: float | None = None) -> Sample:
    """Sum the drucker series of one scrape. :raises ValueError: for text that is no exposition."""
    requests = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUESTS:
                requests += sample.value
            elif sample.name == DURATION_BUCKET:
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return Sample(time.monotonic() if at is None else at, requests, buckets)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of cumulative buckets, interpolated as Prometheus' histogram_quantile."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def traffic(previous: Sample, current: Sample) -> Traffic | None:
    """Rate and p99 between two scrapes; ``None`` when they are not in time order."""
    elapsed = current.at - previous.at
    if elapsed <= 0:
        return None
    reset = current.requests < previous.requests
    requests = current.requests if reset else current.requests - previous.requests
    delta = {
        bound: count if reset else count - previous.buckets.get(bound, 0.0)
        for bound, count in current.buckets.items()
    }
    return Traffic(requests / elapsed, quantile(0.99, delta))
