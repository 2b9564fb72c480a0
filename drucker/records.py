"""Prediction records: one :class:`~drucker.events.PredictionEvent` per answered request.

The runtime builds a :class:`PredictionRecords` over its event log when ``log.predictions`` is
on (and none when it is off, so a request then pays nothing for logging). A request's option
``suppress_log_input`` hides its input and answer.
"""

from __future__ import annotations

import time
from typing import Any

import pluggy

from drucker.events import EventLog, PredictionEvent, ServiceIdentity
from drucker.kinds import Kind
from drucker.settings import Settings
from drucker.types import PredictResult, TensorResult

SUPPRESS_LOG_OPTION = "suppress_log_input"


class PredictionRecords:
    """Emits the prediction records of one service through ``log``."""

    def __init__(self, log: EventLog) -> None:
        self._emit = log.emit
        self._service = log.service

    def row(
        self,
        value: Any,
        option: dict[str, Any],
        result: PredictResult,
        input_kind: Kind,
        output_kind: Kind,
        started: float,
    ) -> None:
        """Record one prediction of ``value`` answered by ``result``; ``started`` is its
        ``time.perf_counter()`` at the start."""
        suppressed = bool(option.get(SUPPRESS_LOG_OPTION, False)) if option else False
        self._emit(
            PredictionEvent(
                service=self._service,
                input_kind=input_kind._value_,  # the wire name, without two property calls
                output_kind=output_kind._value_,
                input=None if suppressed else value,
                output=None if suppressed else result.label,
                score=None if suppressed else result.score,
                suppressed=suppressed,
                latency_seconds=time.perf_counter() - started,
            )
        )

    def rows(
        self,
        values: list[Any],
        option: dict[str, Any],
        results: list[PredictResult],
        input_kind: Kind,
        output_kind: Kind,
        started: float,
    ) -> None:
        """Record the rows of one request as one prediction (lists of labels and scores)."""
        answer = PredictResult([r.label for r in results], [r.score for r in results])
        self.row(values, option, answer, input_kind, output_kind, started)

    def tensor(
        self,
        rows: Any,
        option: dict[str, Any],
        answer: TensorResult,
        input_kind: Kind,
        output_kind: Kind,
        started: float,
    ) -> None:
        """Record a tensor's rows answered by one tensor answer as one prediction."""
        logged = PredictResult(answer.labels.tolist(), answer.scores.tolist())
        self.row(rows, option, logged, input_kind, output_kind, started)


def system_event_log(plugins: pluggy.PluginManager, settings: Settings) -> EventLog:
    """An event log over ``plugins`` for a process that serves no model (the supervisor)."""
    plugins.hook.drucker_configure(settings=settings)
    return EventLog(plugins.hook.drucker_log, ServiceIdentity.from_settings(settings))
