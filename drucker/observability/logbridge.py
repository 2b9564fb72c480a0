"""The standard library's ``logging`` into drucker's structured log (the ``drucker_log`` hook).

A plugin's ``logging.getLogger(__name__).info("...")`` (and grpc's, uvicorn's, a library's)
becomes a :class:`~drucker.events.SystemEvent` with the logger's name, so it reaches every log
plugin as a structured record instead of plain text among the JSON lines.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from drucker.events import Level

if TYPE_CHECKING:
    from drucker.events import EventLog

# Fields of every LogRecord; whatever else a caller passed with ``extra=`` is kept.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "level",
    "traceback",
    "logger",
}
_FORMATTER = logging.Formatter()


def level_of(levelno: int) -> Level:
    """The drucker level for a standard ``logging`` level (CRITICAL is ERROR)."""
    if levelno >= logging.ERROR:
        return Level.ERROR
    if levelno >= logging.WARNING:
        return Level.WARNING
    if levelno >= logging.INFO:
        return Level.INFO
    return Level.DEBUG


class EventLogHandler(logging.Handler):
    """A ``logging`` handler that emits each record through an :class:`EventLog`."""

    def __init__(self, log: EventLog, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._log = log
        self._inside = threading.local()  # a log plugin that logs must not loop

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._inside, "active", False):
            return
        self._inside.active = True
        try:
            fields = {
                key: value
                for key, value in record.__dict__.items()
                if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
            }
            exc_info = record.exc_info
            traceback = _FORMATTER.formatException(exc_info) if exc_info else None
            self._log.system(
                level_of(record.levelno),
                record.getMessage(),
                traceback=traceback,
                logger=record.name,
                **fields,
            )
        except Exception:
            self.handleError(record)
        finally:
            self._inside.active = False


def bridge_logging(log: EventLog, level: Level) -> EventLogHandler:
    """Route the root logger into ``log`` at ``level`` (replacing its other handlers).

    Process-wide, as ``logging`` is: call it once, from the process's entry point.
    """
    handler = EventLogHandler(log)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(int(level))
    return handler
