"""First-party log plugin: JSON lines with the Drucker 0.4.5 field names.

Installed in the ``drucker.plugins`` entry-point group as ``jsonlog``, so every service loads it
(``drucker serve -p no:jsonlog`` turns it off); the module itself is the plugin and writes to
standard error. :class:`JsonLinesLog` writes to any stream, for embedding and tests.

Each record becomes one line with ``host``, ``short_message``, ``timestamp``, ``level``
(syslog severity, as 0.4.5 wrote it), ``service`` (``"drucker"``), ``ml_service`` (the
application name), ``service_level``, and for predictions ``ml_input`` and ``ml_output``.
With ``log.format: text`` (:class:`TextLinesLog`) it is a readable line instead; ``log.level``
sets the lowest level written (both through ``drucker_configure``).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
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


LEVEL_NAMES = {
    Level.DEBUG: "DEBUG",
    Level.INFO: "INFO",
    Level.WARNING: "WARNING",
    Level.ERROR: "ERROR",
}


def _text_value(value: Any) -> str:
    text = json.dumps(_loggable(value), default=str, ensure_ascii=False)
    return text[1:-1] if text.startswith('"') and " " not in text else text


class TextLinesLog(JsonLinesLog):
    """Writes every record as one readable line: local time, level name, message, fields.

    For people at a terminal (``log.format: text``); the JSON lines are for machines.
    """

    def format(self, record: LogRecord) -> str:
        """The text line (without newline) for one record."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.timestamp))
        millis = int(record.timestamp * 1000) % 1000
        head = f"{stamp}.{millis:03d} {LEVEL_NAMES[record.level]:<7}"
        if isinstance(record, PredictionEvent):
            rpc = f"Predict_{record.input_kind}_{record.output_kind}"
            if record.suppressed:
                body = f"{rpc} (input and output suppressed)"
            else:
                body = (
                    f"{rpc} input={_text_value(record.input)} "
                    f"output={_text_value(record.output)} score={_text_value(record.score)}"
                )
            return f"{head} {body} latency_ms={record.latency_seconds * 1000:.3f}"
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in record.fields.items())
        line = f"{head} {record.message}" + (f" {fields}" if fields else "")
        if record.traceback:
            line += "\n" + record.traceback.rstrip("\n")
        return line


def log_plugin(
    format: str = "json", stream: TextIO | None = None, min_level: Level = Level.INFO
) -> JsonLinesLog:
    """The log plugin for a ``log.format`` (``json`` or ``text``)."""
    cls = TextLinesLog if format == "text" else JsonLinesLog
    return cls(stream, min_level)


_STANDARD_ERROR = [JsonLinesLog()]  # replaced by drucker_configure


@drucker.hookimpl
def drucker_configure(settings: drucker.Settings) -> None:
    """Follow ``log.format`` (json or text) and ``log.level``."""
    level = Level[settings.log_level.upper()]
    _STANDARD_ERROR[0] = log_plugin(settings.log_format, None, level)


@drucker.hookimpl
def drucker_log(record: LogRecord) -> None:
    """Write the record to standard error as one JSON line (or text line)."""
    _STANDARD_ERROR[0].drucker_log(record)
