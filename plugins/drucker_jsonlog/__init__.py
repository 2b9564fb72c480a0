"""First-party log plugin: JSON lines with the Drucker 0.4.5 field names.

Installed in the ``drucker.plugins`` entry-point group as ``jsonlog``, so every service loads it
(``drucker serve -p no:jsonlog`` turns it off); the module itself is the plugin and writes to
standard error. :class:`JsonLinesLog` writes to any stream, for embedding and tests.

Each record becomes one line with ``host``, ``short_message``, ``timestamp``, ``level``
(syslog severity, as 0.4.5 wrote it), ``service`` (``"drucker"``), ``ml_service`` (the
application name), ``service_level``, and for predictions ``ml_input`` and ``ml_output``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

import drucker
from drucker.events import Level, LogRecord, PredictionEvent

SYSLOG_SEVERITY = {Level.DEBUG: 7, Level.INFO: 6, Level.WARNING: 4, Level.ERROR: 3}
MAX_LOGGED_CHARS = 2048


def _loggable(value: Any) -> Any:
    """A JSON-friendly, bounded form of an input or output value."""
    if isinstance(value, bytes):
        if len(value) > MAX_LOGGED_CHARS:
            return f"<{len(value)} bytes>"
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, str) and len(value) > MAX_LOGGED_CHARS:
        return value[:MAX_LOGGED_CHARS] + f"... <{len(value)} characters>"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        # lists, and the repeated fields array inputs arrive as
        if len(value) > MAX_LOGGED_CHARS:
            return [*value[:MAX_LOGGED_CHARS], f"... <{len(value)} items>"]
        return list(value)
    return value


class JsonLinesLog:
    """Writes every record as one JSON line to a text stream (standard error by default)."""

    def __init__(self, stream: TextIO | None = None, min_level: Level = Level.INFO) -> None:
        self._stream = stream
        self._min_level = min_level
        self._lock = threading.Lock()

    def format(self, record: LogRecord) -> str:
        """The JSON line (without newline) for one record."""
        service = record.service
        line: dict[str, Any] = {
            "host": service.host,
            "pid": os.getpid(),
            "timestamp": round(record.timestamp, 3),
            "level": SYSLOG_SEVERITY[record.level],
            "service": "drucker",
            "ml_service": service.application_name,
            "service_name": service.service_name,
            "service_level": service.service_level,
        }
        if isinstance(record, PredictionEvent):
            line["short_message"] = f"Predict_{record.input_kind}_{record.output_kind}"
            line["ml_input"] = _loggable(record.input)
            line["ml_output"] = _loggable(record.output)
            line["ml_score"] = _loggable(record.score)
            line["latency_ms"] = round(record.latency_seconds * 1000, 3)
            if record.suppressed:
                line["suppressed"] = True
        else:
            line["short_message"] = record.message
            line.update(record.fields)
            if record.traceback:
                line["traceback"] = record.traceback
        return json.dumps(line, default=str, ensure_ascii=False)

    @drucker.hookimpl
    def drucker_log(self, record: LogRecord) -> None:
        """Write the record if it is at or above the minimum level."""
        if record.level < self._min_level:
            return
        text = self.format(record) + "\n"
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write(text)
            stream.flush()


_STANDARD_ERROR = JsonLinesLog()


@drucker.hookimpl
def drucker_log(record: LogRecord) -> None:
    """Write the record to standard error as one JSON line."""
    _STANDARD_ERROR.drucker_log(record)
