"""The Prometheus series of traffic between versions: the shadow's online comparison.

``drucker_shadow_comparisons_total{model,primary,shadow,outcome}`` counts every shadowed
request once, with ``outcome`` one of ``agree``, ``disagree``, ``shadow_error`` or
``dropped``; ``drucker_shadow_score_difference`` is the absolute difference of the two
answers' scores. The per-version latencies are the existing request series'.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

OUTCOMES = ("agree", "disagree", "shadow_error", "dropped")
SCORE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class TrafficMetrics:
    """The shadow series, in the server's registry (none: counted nowhere)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._on = registry is not None
        self._comparisons = Counter(
            "drucker_shadow_comparisons",
            "Shadowed requests by what the comparison with the primary's answer found.",
            ("model", "primary", "shadow", "outcome"),
            registry=registry,
        )
        self._difference = Histogram(
            "drucker_shadow_score_difference",
            "Absolute difference of the primary's and the shadow's scores.",
            ("model", "primary", "shadow"),
            buckets=SCORE_BUCKETS,
            registry=registry,
        )

    def compared(
        self, model: str, primary: str, shadow: str, outcome: str, difference: float | None
    ) -> None:
        """Count one shadowed request (``difference`` when both answered)."""
        if not self._on:
            return
        self._comparisons.labels(model, primary, shadow, outcome).inc()
        if difference is not None:
            self._difference.labels(model, primary, shadow).observe(difference)
