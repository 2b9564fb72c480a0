"""Live figures on this replica: per version requests, errors and recent latencies; the
shadow's comparison counts; guard windows."""

from __future__ import annotations

from collections import deque

import attrs

RECENT = 2048  # latencies kept per version for the percentiles


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000.0


class VersionCounts:
    """One version's answers on this replica."""

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=RECENT)

    def record(self, seconds: float, failed: bool) -> None:
        self.requests += 1
        self.errors += failed
        self.latencies.append(seconds)

    def p50_ms(self) -> float:
        return _percentile(list(self.latencies), 0.5)

    def p99_ms(self) -> float:
        return _percentile(list(self.latencies), 0.99)


class ShadowCounts:
    """The shadow's outcomes (agree + disagree + shadow_error + dropped = shadowed)."""

    def __init__(self) -> None:
        self.agree = 0
        self.disagree = 0
        self.shadow_error = 0
        self.dropped = 0
        self.difference_sum = 0.0
        self.latency = VersionCounts()

    def mean_difference(self) -> float:
        compared = self.agree + self.disagree
        return self.difference_sum / compared if compared else 0.0


@attrs.define
class Window:
    """A guard's current window of one version's requests."""

    size: int
    requests: int = 0
    errors: int = 0
    agree: int = 0
    compared: int = 0

    def full(self) -> bool:
        return max(self.requests, self.compared) >= self.size

    def reset(self) -> None:
        self.requests = self.errors = self.agree = self.compared = 0
