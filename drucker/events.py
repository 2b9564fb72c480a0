"""Structured log records, delivered to log plugins through the ``drucker_log`` hook."""

from __future__ import annotations

import enum
import socket
import time
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable

    from drucker.settings import Settings


class Level(enum.IntEnum):
    """Severity of a record, with the numeric values of the standard ``logging`` levels."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


@attrs.frozen
class ServiceIdentity:
    """Who emits records: the host and the service's names from the settings."""

    host: str
    application_name: str
    service_name: str
    service_level: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceIdentity:
        """Build the identity of the current process from its settings."""
        return cls(
            host=socket.gethostname(),
            application_name=settings.application_name,
            service_name=settings.service_name,
            service_level=settings.service_level.value,
        )


@attrs.frozen
class SystemEvent:
    """Something happened to the service: start-up, model switch, a failure."""

    service: ServiceIdentity
    level: Level
    message: str
    fields: dict[str, Any] = attrs.field(factory=dict)
    traceback: str | None = None
    timestamp: float = attrs.field(factory=time.time)


@attrs.frozen
class PredictionEvent:
    """One prediction was answered.

    ``input`` and ``output`` are ``None`` when the request asked ``suppress_log_input``.
    """

    service: ServiceIdentity
    input_kind: str
    output_kind: str
    input: Any
    output: Any
    score: Any
    suppressed: bool
    latency_seconds: float
    level: Level = Level.INFO
    timestamp: float = attrs.field(factory=time.time)


LogRecord = SystemEvent | PredictionEvent


class EventLog:
    """Builds records for one service and hands them to ``deliver``.

    ``deliver`` is the ``drucker_log`` hook caller, given by the runtime (the only code that
    holds the plugin manager), or any callable taking ``record=``.
    """

    def __init__(self, deliver: Callable[..., Any], service: ServiceIdentity) -> None:
        self._deliver = deliver
        self.service = service

    def emit(self, record: LogRecord) -> None:
        """Deliver a record to every log plugin."""
        self._deliver(record=record)

    def system(
        self,
        level: Level,
        message: str,
        *,
        traceback: str | None = None,
        **fields: Any,
    ) -> None:
        """Emit a system event."""
        self.emit(SystemEvent(self.service, level, message, fields, traceback))

    def info(self, message: str, **fields: Any) -> None:
        """Emit an informational system event."""
        self.system(Level.INFO, message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        """Emit a warning system event."""
        self.system(Level.WARNING, message, **fields)

    def error(self, message: str, *, traceback: str | None = None, **fields: Any) -> None:
        """Emit an error system event, optionally with a formatted traceback."""
        self.system(Level.ERROR, message, traceback=traceback, **fields)
