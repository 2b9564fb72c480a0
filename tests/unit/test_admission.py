"""Admission on its own: refusals, drops, counts and the pushback from the drain rate."""

from __future__ import annotations

import grpc
import pytest

from drucker.admission import MAX_PUSHBACK_MS, UNMEASURED_PUSHBACK_MS, Admission, Queued
from drucker.errors import (
    CallerGoneError,
    DeadlineExceededError,
    OverloadedError,
    TooLargeError,
)
from drucker.protocol.status import PUSHBACK_KEY, failure


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCaller:
    """A caller with a deadline ``remaining`` seconds away (``None``: none) and a cancel flag."""

    def __init__(self, remaining: float | None = None, cancelled: bool = False) -> None:
        self.remaining = remaining
        self.gone = cancelled

    def time_remaining(self) -> float | None:
        return self.remaining

    def cancelled(self) -> bool:
        return self.gone


def _drain(admission: Admission, clock: Clock, count: int, rate: float) -> None:
    """``count`` predictions leave the queue, ``rate`` a second."""
    for _ in range(count):
        clock.now += 1 / rate
        admission.leave(0.0, None)


def _pushback(admission: Admission) -> int:
    with pytest.raises(OverloadedError) as refused:
        admission.admit(None)
    return refused.value.retry_after_ms


def test_the_pushback_is_the_time_the_queue_takes_to_drain_at_the_measured_rate() -> None:
    for rate in (20, 40):
        clock = Clock()
        admission = Admission("m", 20, clock)
        for _ in range(20):
            admission.admit(None)
        assert UNMEASURED_PUSHBACK_MS <= _pushback(admission) <= UNMEASURED_PUSHBACK_MS * 1.5
        _drain(admission, clock, 12, rate=rate)  # one window of at least 0.25 s measured
        for _ in range(12):
            admission.admit(None)
        drain_ms = 1000 * 20 / rate  # 20 waiting
        assert drain_ms <= _pushback(admission) <= drain_ms * 1.5  # plus up to half, at random
        assert admission.refused["queue_full"] == 2


def test_the_pushback_is_bounded() -> None:
    clock = Clock()
    admission = Admission("m", 3, clock)
    for _ in range(3):
        admission.admit(None)
    _drain(admission, clock, 2, rate=0.01)
    for _ in range(2):
        admission.admit(None)
    assert _pushback(admission) == MAX_PUSHBACK_MS


def test_a_caller_gone_is_refused_or_dropped_and_counted() -> None:
    admission = Admission("m", 0)  # no bound
    with pytest.raises(DeadlineExceededError):
        admission.admit(FakeCaller(remaining=0))
    with pytest.raises(CallerGoneError):
        admission.admit(FakeCaller(cancelled=True))
    caller = FakeCaller(remaining=5)
    arrived = admission.admit(caller)
    caller.remaining = -1
    with pytest.raises(DeadlineExceededError):
        admission.leave(arrived, caller)
    assert admission.refused == {"queue_full": 0, "deadline": 1, "cancelled": 1}
    assert admission.dropped == {"queue_full": 0, "deadline": 1, "cancelled": 0}
    assert admission.waiting == 0
    assert sum(admission.wait_buckets) == 1


def test_an_abandoned_prediction_never_runs() -> None:
    admission = Admission("m", 4)
    calls: list[int] = []
    queued = Queued(admission, FakeCaller(remaining=10), lambda: calls.append(1))
    assert admission.waiting == 1
    queued.abandon()
    with pytest.raises(CallerGoneError):
        queued.run()
    assert calls == [] and admission.waiting == 0
    assert admission.dropped["cancelled"] == 1
    ran = Queued(admission, None, lambda: calls.append(2))
    ran.run()
    ran.abandon()  # too late: it ran, nothing changes
    assert calls == [2] and admission.dropped["cancelled"] == 1


def test_refusals_carry_the_pushback_trailer_and_others_forbid_retries() -> None:
    code, _, trailers = failure(OverloadedError("full", 250))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailers == ((PUSHBACK_KEY, "250"),)
    code, _, trailers = failure(TooLargeError("too many rows"))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailers == ((PUSHBACK_KEY, "-1"),)
    code, _, trailers = failure(DeadlineExceededError("late"))
    assert code is grpc.StatusCode.DEADLINE_EXCEEDED and trailers == ()
