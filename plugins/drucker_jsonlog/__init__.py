"""First-party log plugin: JSON lines with the Drucker 0.4.5 field names.

Installed in the ``drucker.plugins`` entry-point group as ``jsonlog``, so every service loads it
(``drucker serve -p no:jsonlog`` turns it off); the module itself is the plugin and writes to
standard error. :class:`JsonLinesLog` writes to any stream, for embedding and tests.

Each record becomes one line with ``host``, ``short_message``, ``timestamp``, ``level``
(syslog severity, as 0.4.5 wrote it), ``service`` (``"drucker"``), ``ml_service`` (the
application name), ``service_level``, and for predictions ``ml_input`` and ``ml_output``.
With ``log.format: text`` (:class:`TextLinesLog`) it is a readable line instead; ``log.level``
sets the lowest level written (both through ``drucker_configure``).

The standard-error plugin writes prediction lines in bunches
(:class:`~drucker_jsonlog.writer.BackgroundWriter`): a request queues its record, and the
server's event loop formats and writes the queued records every 50 ms, with one system call
(predictions running in the predict threads hand theirs to a writer thread). A record with a
big input (a tensor of more than 256 numbers, or a value past the logged length) is formatted
at once, so the queue never holds on to big inputs and no write holds the loop for long.
System events (start-up, switches, failures) are written at once, after the predictions queued
before them.
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

import numpy as np
import orjson

import drucker
from drucker.events import Level, LogRecord, PredictionEvent, ServiceIdentity
from drucker_jsonlog.writer import BackgroundWriter

SYSLOG_SEVERITY = {Level.DEBUG: 7, Level.INFO: 6, Level.WARNING: 4, Level.ERROR: 3}
MAX_LOGGED_CHARS = 2048
# A tensor's record of more numbers than this is formatted when it is logged, while its rows
# are in the cache: formatted later in a bunch, 64 rows of 20 took the loop 3 ms at a time.
FORMAT_AT_ONCE_ELEMENTS = 256
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _json(value: dict[str, Any]) -> bytes:
    """Compact JSON (UTF-8) of ``value``; what JSON cannot hold is written as its ``str``.

    orjson is about 20 times faster than ``json`` on a row of floats; the standard library
    takes what orjson refuses (integers beyond 64 bits, for one).
    """
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


_SCALARS = frozenset({int, float, bool, type(None)})
_NUMPY_NUMBERS = frozenset("iufb")  # the dtype kinds orjson serializes itself


_SEQUENCES: dict[type, bool] = {list: True, tuple: True, str: False, bytes: False}


def _is_sequence(value: Any) -> bool:
    """Whether ``value`` is a list-like sequence (not text), cached per type."""
    kind = type(value)
    known = _SEQUENCES.get(kind)
    if known is None:
        known = isinstance(value, Sequence) and not isinstance(value, str | bytes)
        _SEQUENCES[kind] = known
    return known


def _loggable(value: Any) -> Any:
    """A JSON-friendly, bounded form of an input or output value."""
    if type(value) in _SCALARS:
        return value
    if type(value) is np.ndarray:  # a tensor's rows: orjson writes numbers straight from it
        if value.ndim == 0:
            return value.item()
        if len(value) > MAX_LOGGED_CHARS:
            return [*value[:MAX_LOGGED_CHARS].tolist(), f"... <{len(value)} items>"]
        if value.dtype.kind in _NUMPY_NUMBERS and value.flags.c_contiguous:
            return value
        return value.tolist()
    if _is_sequence(value):  # lists, and the repeated fields array inputs arrive as
        if len(value) > MAX_LOGGED_CHARS:
            return [*value[:MAX_LOGGED_CHARS], f"... <{len(value)} items>"]
        return value if type(value) is list else list(value)
    if isinstance(value, bytes):
        if len(value) > MAX_LOGGED_CHARS:
            return f"<{len(value)} bytes>"
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, str) and len(value) > MAX_LOGGED_CHARS:
        return value[:MAX_LOGGED_CHARS] + f"... <{len(value)} characters>"
    return value


def _wire_floats(value: Any, kind: str) -> Any:
    """An ``ArrFloat`` input as the 32-bit floats the Drucker protocol carried, so that it is
    written at float32's precision (13.4, not 13.399999618530273)."""
    if kind == "ArrFloat" and type(value) is not np.ndarray and _is_sequence(value):
        try:
            return np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            return value
    return value


def _is_big(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return False
    if kind is np.ndarray:
        return bool(value.size > FORMAT_AT_ONCE_ELEMENTS)
    sized = kind is str or kind is bytes or _is_sequence(value)
    return sized and len(value) > MAX_LOGGED_CHARS


class JsonLinesLog:
    """Writes every record as one JSON line to a text stream (standard error by default).

    With ``background``, prediction records are queued and written in bunches by the event
    loop or a writer thread (see the module documentation); otherwise every record is written
    before the hook returns.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        min_level: Level = Level.INFO,
        background: bool = False,
    ) -> None:
        self._stream = stream
        self._min_level = min_level
        self._lock = threading.Lock()
        self._writer = BackgroundWriter(self._line, self._current_stream) if background else None
        self._heads: dict[ServiceIdentity, bytes] = {}
        self._last_service: ServiceIdentity | None = None
        self._last_head = b""

    def _current_stream(self) -> TextIO:
        return self._stream or sys.stderr

    def _head(self, service: ServiceIdentity) -> bytes:
        """The JSON of the fields that are the same in every record of ``service``, without
        the closing brace (built once per service and process)."""
        if service is self._last_service:  # the common case: one service per process
            return self._last_head
        head = self._heads.get(service)
        if head is None:
            fields = {
                "host": service.host,
                "pid": os.getpid(),
                "service": "drucker",
                "ml_service": service.application_name,
                "service_name": service.service_name,
                "service_level": service.service_level,
            }
            head = self._heads[service] = _json(fields)[:-1]
        self._last_service, self._last_head = service, head
        return head

    def _line(self, queued: LogRecord | bytes) -> bytes:
        return queued if isinstance(queued, bytes) else self.encode(queued)

    def format(self, record: LogRecord) -> str:
        """The line (without newline) for one record."""
        return self.encode(record).decode("utf-8")

    def encode(self, record: LogRecord) -> bytes:
        """The JSON line (UTF-8, without newline) for one record."""
        line: dict[str, Any]
        if isinstance(record, PredictionEvent):  # every request: one dict, one orjson call
            line = {
                "timestamp": round(record.timestamp, 3),
                "level": SYSLOG_SEVERITY[record.level],
                "short_message": f"Predict_{record.input_kind}_{record.output_kind}",
                "ml_input": _loggable(_wire_floats(record.input, record.input_kind)),
                "ml_output": _loggable(record.output),
                "ml_score": _loggable(record.score),
                "latency_ms": round(record.latency_seconds * 1000, 3),
            }
            if record.suppressed:
                line["suppressed"] = True
        else:
            line = {
                "timestamp": round(record.timestamp, 3),
                "level": SYSLOG_SEVERITY[record.level],
                "short_message": record.message,
                **record.fields,
            }
            if record.traceback:
                line["traceback"] = record.traceback
        return b"".join((self._head(record.service), b",", memoryview(_json(line))[1:]))

    @drucker.hookimpl
    def drucker_log(self, record: LogRecord) -> None:
        """Write the record if it is at or above the minimum level."""
        if record.level < self._min_level:
            return
        if self._writer is not None:
            if isinstance(record, PredictionEvent):
                # A big input is shortened now, so the queue never holds on to it; the others
                # are formatted together at the next write (a tight loop of them costs half
                # as much per line as one formatted between two predictions).
                big = _is_big(record.input) or _is_big(record.output)
                self._writer.queue(self.encode(record) if big else record)
            else:
                self._writer.write_now(record)
            return
        text = self.format(record) + "\n"
        stream = self._current_stream()
        with self._lock:
            stream.write(text)
            stream.flush()

    def flush(self) -> None:
        """Write the records still queued for the background thread."""
        if self._writer is not None:
            self._writer.flush()


LEVEL_NAMES = {
    Level.DEBUG: "DEBUG",
    Level.INFO: "INFO",
    Level.WARNING: "WARNING",
    Level.ERROR: "ERROR",
}


def _text_value(value: Any) -> str:
    loggable = _loggable(value)
    if type(loggable) is np.ndarray and loggable.dtype.kind in _NUMPY_NUMBERS:
        # through orjson, which writes a float32 at its own precision (13.4)
        loggable = orjson.loads(orjson.dumps(loggable, option=_ORJSON_OPTIONS))
    if type(loggable) is np.ndarray:
        loggable = loggable.tolist()
    text = json.dumps(loggable, default=str, ensure_ascii=False)
    return text[1:-1] if text.startswith('"') and " " not in text else text


class TextLinesLog(JsonLinesLog):
    """Writes every record as one readable line: local time, level name, message, fields.

    For people at a terminal (``log.format: text``); the JSON lines are for machines.
    """

    def encode(self, record: LogRecord) -> bytes:
        """The text line (UTF-8, without newline) for one record."""
        return self.format(record).encode("utf-8", "backslashreplace")

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
                logged_input = _wire_floats(record.input, record.input_kind)
                body = (
                    f"{rpc} input={_text_value(logged_input)} "
                    f"output={_text_value(record.output)} score={_text_value(record.score)}"
                )
            return f"{head} {body} latency_ms={record.latency_seconds * 1000:.3f}"
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in record.fields.items())
        line = f"{head} {record.message}" + (f" {fields}" if fields else "")
        if record.traceback:
            line += "\n" + record.traceback.rstrip("\n")
        return line


def log_plugin(
    format: str = "json",
    stream: TextIO | None = None,
    min_level: Level = Level.INFO,
    background: bool = False,
) -> JsonLinesLog:
    """The log plugin for a ``log.format`` (``json`` or ``text``)."""
    cls = TextLinesLog if format == "text" else JsonLinesLog
    return cls(stream, min_level, background)


_STANDARD_ERROR = [JsonLinesLog(background=True)]  # replaced by drucker_configure


@drucker.hookimpl
def drucker_configure(settings: drucker.Settings) -> None:
    """Follow ``log.format`` (json or text) and ``log.level``."""
    level = Level[settings.log_level.upper()]
    _STANDARD_ERROR[0].flush()
    _STANDARD_ERROR[0] = log_plugin(settings.log_format, None, level, background=True)


@drucker.hookimpl
def drucker_log(record: LogRecord) -> None:
    """Write the record to standard error as one JSON line (or text line)."""
    _STANDARD_ERROR[0].drucker_log(record)
