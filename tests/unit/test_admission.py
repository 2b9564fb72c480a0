"""Admission on its own: refusals, drops, counts and the pushback from the drain rate."""

from __future__ import annotations

import time

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


def _pushback(admission: Admission, caller: FakeCaller | None = None) -> int:
    with pytest.raises(OverloadedError) as refused:
        admission.admit(caller)
    return refused.value.retry_after_ms


class Retry(FakeCaller):
    """A caller whose request is a retry of gRPC's (it names the attempts before it)."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("grpc-previous-rpc-attempts", "1"),)


class Fresh(FakeCaller):
    """A caller on its first attempt."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


def _measured(rate: float, clock: Clock, max_waiting: int = 20) -> Admission:
    """A full queue of ``max_waiting`` that drained at ``rate`` a second for a while."""
    admission = Admission("m", max_waiting, clock)
    for _ in range(max_waiting):
        admission.admit(None)
    _drain(admission, clock, 12, rate=rate)  # one window of at least 0.25 s measured
    for _ in range(12):
        admission.admit(None)
    return admission


def test_refused_callers_are_told_to_return_one_drain_interval_after_another() -> None:
    clock = Clock()
    admission = Admission("m", 20, clock)
    for _ in range(20):
        admission.admit(None)
    assert UNMEASURED_PUSHBACK_MS <= _pushback(admission) <= UNMEASURED_PUSHBACK_MS * 1.5
    for rate in (20, 40):
        admission = _measured(rate, Clock())
        interval_ms = 1000 / rate
        pushbacks = [_pushback(admission, Fresh()) for _ in range(10)]
        for n, pushback in enumerate(pushbacks):  # the n-th returns when n + 1 have left
            assert n * interval_ms - 1 <= pushback <= (n + 2) * interval_ms + 1
        assert pushbacks[-1] - pushbacks[0] >= 7 * interval_ms  # spread, not all at once
        assert admission.refused["queue_full"] == 10


def test_returning_callers_find_room_past_the_bound_while_a_line_is_due() -> None:
    clock = Clock()
    admission = _measured(20, clock)  # 20 waiting (the bound), draining 20/s
    _pushback(admission, Fresh())  # one refused: due back in about a twentieth of a second
    with pytest.raises(OverloadedError):
        admission.admit(Fresh(remaining=10))  # new callers find the queue full ...
    for _ in range(4):
        admission.admit(Retry(remaining=10))  # ... returning ones have a quarter more room
    admission.admit(None)  # a caller that cannot say whether it retries counts as returning
    with pytest.raises(OverloadedError):
        admission.admit(Retry(remaining=10))  # 25 wait: full for them too
    clock.now += 10  # the line has come back: the bound is the bound again
    _drain(admission, clock, 5, rate=1000)
    with pytest.raises(OverloadedError):
        admission.admit(Retry(remaining=10))


def test_a_caller_whose_turn_comes_after_its_deadline_takes_no_place_in_the_line() -> None:
    admission = _measured(20, Clock())
    with pytest.raises(OverloadedError) as late:
        admission.admit(Fresh(remaining=0.01))
    assert late.value.retry_after_ms > 0  # still told when, and its place stays free:
    nxt = _pushback(admission, Fresh())
    assert nxt <= late.value.retry_after_ms + 2 * 1000 / 20


def test_the_pushback_is_bounded() -> None:
    clock = Clock()
    admission = Admission("m", 3, clock)
    for _ in range(3):
        admission.admit(None)
    _drain(admission, clock, 2, rate=0.01)
    for _ in range(2):
        admission.admit(None)
    _pushback(admission, Fresh())  # the first returns in about 100 s, capped or not
    assert _pushback(admission, Fresh()) == MAX_PUSHBACK_MS  # the next at 200 s: capped


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


def test_a_prediction_whose_deadline_is_nearer_than_its_call_time_is_dropped() -> None:
    admission = Admission("m", 0)
    assert admission.call_seconds() == 0.0  # nothing measured: only the deadline itself counts
    arrived = admission.admit(FakeCaller(remaining=0.001))
    admission.leave(arrived, FakeCaller(remaining=0.001))
    for seconds in (0.2, 0.2, 0.3):
        admission.record(seconds)
    assert admission.call_seconds() == pytest.approx(0.22)  # a moving average
    admission.record(5.0, size=1000)  # big calls are measured apart from single ones
    assert admission.call_seconds(size=1) == pytest.approx(0.22)
    assert admission.call_seconds(size=900) == 5.0
    arrived = admission.admit(FakeCaller(remaining=10))
    with pytest.raises(DeadlineExceededError, match=r"230\.0 ms"):
        admission.leave(arrived, FakeCaller(remaining=0.1))
    arrived = admission.admit(FakeCaller(remaining=10))
    admission.leave(arrived, FakeCaller(remaining=0.3))  # time enough for a single call ...
    arrived = admission.admit(FakeCaller(remaining=10))
    with pytest.raises(DeadlineExceededError):
        admission.leave(arrived, FakeCaller(remaining=0.3), size=1000)  # ... not a big one
    arrived = admission.admit(None)
    admission.leave(arrived, None)  # no deadline: never dropped for its call time
    assert admission.dropped == {"queue_full": 0, "deadline": 2, "cancelled": 0}
    assert admission.waiting == 0


def test_a_queued_call_is_timed_for_the_admission() -> None:
    clock = Clock()
    admission = Admission("m", 4, clock)

    def call() -> str:
        time.sleep(0.05)
        return "done"

    queued = Queued(admission, None, call)
    assert queued.run() == "done"
    time.sleep(0.02)  # the answer's way back to where it is awaited counts too
    queued.answered()
    measured = admission.call_seconds()
    assert measured >= 0.07
    Queued(admission, None, call).answered()  # never run: nothing measured
    assert admission.call_seconds() == measured
    late = Queued(admission, FakeCaller(remaining=0.01), call)
    with pytest.raises(DeadlineExceededError):
        late.run()
    assert admission.dropped["deadline"] == 1


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
