"""Without an OTEL_* exporter (or without the otel extra) nothing of OpenTelemetry is loaded."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import asyncio, sys
from drucker.kinds import Kind
from drucker.observability import Tracing, tracing
from drucker.server import lifecycle  # the whole server, as `drucker serve` imports it

assert Tracing.from_environment("probe") is None
with tracing.predict_span(None, Kind.STRING, Kind.STRING):
    pass
loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
print(",".join(loaded))
"""


def test_no_exporter_configured_imports_no_opentelemetry() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
