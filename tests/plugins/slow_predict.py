"""Plugins whose predictions wait at a gate the test opens, and that count every call.

A test sees a prediction reach the plugin (``entered``), holds it there until it opens
``gate``, and reads ``inputs``: every input the plugin was asked to predict, so it can tell
that a request never reached it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import drucker
from drucker import PredictResult

GATE_LIMIT_SECONDS = 30.0


class GatedPredictor:
    """``drucker_predict`` held at ``gate``; ``inputs`` lists what reached it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)  # released once per call that reached the plugin
        self.inputs: list[Any] = []
        self.arrivals: list[float] = []  # time.monotonic() each input reached the plugin
        self._lock = threading.Lock()

    def _arrive(self, values: list[Any]) -> None:
        with self._lock:
            self.inputs.extend(values)
            self.arrivals.extend([time.monotonic()] * len(values))
        self.entered.release()
        if not self.gate.wait(GATE_LIMIT_SECONDS):
            raise RuntimeError("the test never opened the gate")

    def wait_entered(self, timeout: float = 10) -> None:
        """Wait until one more call has reached the plugin."""
        if not self.entered.acquire(timeout=timeout):
            raise TimeoutError("no prediction reached the plugin")

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> str:
        return "gated"

    @drucker.hookimpl
    def drucker_predict(self, model: str, input: Any) -> PredictResult:
        self._arrive([input])
        return PredictResult(label=_text(input), score=1.0)


class GatedBatchPredictor(GatedPredictor):
    """The same, with ``drucker_predict_batch``: concurrent requests reach it as one batch."""

    @drucker.hookimpl
    def drucker_predict_batch(self, model: str, inputs: list[Any]) -> list[PredictResult]:
        self._arrive(list(inputs))
        return [PredictResult(label=_text(value), score=1.0) for value in inputs]


class TimedPredictor(GatedPredictor):
    """A plugin whose every call takes ``seconds`` (waiting without the GIL), not a gate."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.gate.set()

    def _arrive(self, values: list[Any]) -> None:
        with self._lock:
            self.inputs.extend(values)
            self.arrivals.extend([time.monotonic()] * len(values))
        self.entered.release()
        time.sleep(self.seconds)


class TimedBatchPredictor(TimedPredictor):
    """The timed plugin with ``drucker_predict_batch``: one ``seconds`` per batch."""

    @drucker.hookimpl
    def drucker_predict_batch(self, model: str, inputs: list[Any]) -> list[PredictResult]:
        self._arrive(list(inputs))
        return [PredictResult(label=_text(value), score=1.0) for value in inputs]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
