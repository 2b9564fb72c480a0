"""Observability: Prometheus metrics, OpenTelemetry tracing and the stdlib-logging bridge.

The one place that knows ``prometheus_client`` and ``opentelemetry``; the server, the batcher
and model management record through it. The runtime knows nothing of it.
"""

from drucker.observability import metrics, tracing
from drucker.observability.logbridge import bridge_logging
from drucker.observability.metrics import NO_METRICS, Metrics
from drucker.observability.tracing import Tracing

__all__ = ["NO_METRICS", "Metrics", "Tracing", "bridge_logging", "metrics", "tracing"]
