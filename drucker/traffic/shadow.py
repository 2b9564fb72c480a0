"""The shadow lane: a bounded set of shadow calls off the request path, and the comparison of
their answers with the primary's.

The lane never delays a caller: a shadow call is a task started after the primary answered;
when ``capacity`` are already running the request is not shadowed but counted ``dropped``.
A shadow's failure is counted ``shadow_error`` and never reaches the caller.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from drucker.types import PredictResult, TensorResult

SAMPLE_SIZE = 1000  # shadowed requests kept (input and both answers)
LANE_CAPACITY = 64  # shadow calls running at once at most


def _plain(value: Any) -> Any:
    """A JSON-able form of an input or a label."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]  # a protobuf repeated field of a 0.4.5 request
    return value


def _answers(result: Any) -> tuple[Any, Any]:
    """The (labels, scores) of a single, a rows' or a tensor's answer."""
    if isinstance(result, PredictResult):
        return _plain(result.label), _plain(result.score)
    if isinstance(result, TensorResult):
        return _plain(result.labels), _plain(result.scores)
    return [_plain(r.label) for r in result], [_plain(r.score) for r in result]


def _floats(score: Any) -> np.ndarray:
    try:
        return np.asarray(score, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return np.empty(0)


def compare(primary: Any, shadow: Any) -> tuple[bool, float, tuple[Any, ...]]:
    """Whether the labels agree, the mean absolute score difference (``nan`` when the scores
    do not line up), and both (labels, scores) as plain values."""
    p_label, p_score = _answers(primary)
    s_label, s_score = _answers(shadow)
    a, b = _floats(p_score), _floats(s_score)
    difference = float(np.abs(a - b).mean()) if a.size and a.shape == b.shape else math.nan
    return p_label == s_label, difference, (p_label, p_score, s_label, s_score)


Outcome = Callable[[str, float | None, float, dict[str, Any] | None], None]


class ShadowLane:
    """Runs shadow calls as tasks, ``capacity`` at most; reports each outcome to ``done``."""

    def __init__(self, capacity: int = LANE_CAPACITY) -> None:
        self.capacity = capacity
        self._running: set[asyncio.Task[None]] = set()
        self.sample: deque[dict[str, Any]] = deque(maxlen=SAMPLE_SIZE)

    def offer(
        self,
        call: Callable[[], Awaitable[Any]],
        primary: Any,
        value: Any,
        versions: tuple[str, str],
        done: Outcome,
    ) -> None:
        """Shadow one request (``call`` predicts it with the shadow version), or count it
        dropped when the lane is full."""
        if len(self._running) >= self.capacity:
            done("dropped", None, 0.0, None)
            return
        task = asyncio.get_running_loop().create_task(
            self._run(call, primary, value, versions, done)
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(
        self,
        call: Callable[[], Awaitable[Any]],
        primary: Any,
        value: Any,
        versions: tuple[str, str],
        done: Outcome,
    ) -> None:
        started = time.perf_counter()
        row: dict[str, Any] = {"at": time.time(), "input": _plain(value)}
        row.update(primary_version=versions[0], shadow_version=versions[1])
        try:
            answer = await call()
        except Exception:  # a shadow failure is counted, never seen by the caller
            seconds = time.perf_counter() - started
            p_label, p_score = _answers(primary)
            row.update(primary_label=p_label, primary_score=p_score, shadow_label=None)
            row.update(shadow_score=[], outcome="shadow_error", score_difference=0.0)
            self.sample.append(row)
            done("shadow_error", None, seconds, row)
            return
        seconds = time.perf_counter() - started
        agree, difference, (p_label, p_score, s_label, s_score) = compare(primary, answer)
        outcome = "agree" if agree else "disagree"
        row.update(primary_label=p_label, primary_score=p_score)
        row.update(shadow_label=s_label, shadow_score=s_score, outcome=outcome)
        row.update(score_difference=0.0 if math.isnan(difference) else difference)
        self.sample.append(row)
        done(outcome, None if math.isnan(difference) else difference, seconds, row)

    async def close(self) -> None:
        """Cancel the shadow calls still running."""
        for task in list(self._running):
            task.cancel()
