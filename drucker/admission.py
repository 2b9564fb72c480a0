"""Admission: bounded waiting per model, deadline and cancellation checks, pushback.

The dispatcher asks an :class:`Admission` before a prediction joins a queue (the predict
threads' or the batcher's) and again when it leaves it, right before the plugin runs:

- :meth:`Admission.admit` refuses at once a caller that is gone already (its deadline passed
  or it cancelled) and, when ``max_waiting`` predictions wait already, refuses with
  :class:`~drucker.errors.OverloadedError` carrying a pushback: a return time in a line of
  refused callers spaced at the rate the queue was measured to drain, so that they come back
  one by one as it makes room; while such a line is due, gRPC retries (which say so in their
  metadata) find a quarter more room than new callers, so that a retried call is not
  overtaken by newer ones again and again;
- :meth:`Admission.leave` drops a prediction whose caller left while it waited, or whose
  deadline is nearer than the plugin's measured call time (:meth:`Admission.record`, a moving
  average per size of call, until the answer is back on the loop) plus the answer's way to the
  caller: the plugin never works for a caller who has gone or whose answer could not reach it
  in time.

A caller is anything with gRPC's ``time_remaining()`` and ``cancelled()`` (a
``grpc.aio.ServicerContext`` is one; the REST binding makes its own), so this module knows no
protocol. Every refusal and drop is counted by reason (``queue_full``, ``deadline``,
``cancelled``), with the number waiting and the time spent waiting, for the metrics.

Waiting predictions leave the queue in predict threads too, so the counts change under a lock.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from drucker.errors import CallerGoneError, DeadlineExceededError, DruckerError, OverloadedError

T = TypeVar("T")

REASONS = ("queue_full", "deadline", "cancelled")
# Seconds waited in the queue: from a fraction of a millisecond to past any sensible deadline.
WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The drain rate is measured over windows at least this long while predictions wait (blended
# with the previous value).
RATE_WINDOW_SECONDS = 0.25
# An rpc cancelled this close to its deadline was cancelled for it (gRPC's timer may fire a
# little before the deadline a servicer context reads).
DEADLINE_SLACK_SECONDS = 0.05
# Pushback bounds (ms): never "now", never so late that a client gives up for good.
MIN_PUSHBACK_MS = 10
MAX_PUSHBACK_MS = 30_000
# gRPC's retries name the attempts before them in the request's metadata; the SDK's own
# attempts (``attempt_timeout``) in a key of their own (gRPC's retry filter drops a caller's
# grpc-previous-rpc-attempts when retries are on).
RETRY_METADATA_KEYS = ("grpc-previous-rpc-attempts", "x-drucker-previous-attempts")
# Pushback while no drain was measured yet (nothing left the queue so far).
UNMEASURED_PUSHBACK_MS = 1000
# The measured call time is a moving average: each new call weighs this much.
CALL_WEIGHT = 0.2
# Seconds an answer needs, past the measured call, to reach its caller (serialising, the
# network, the caller's own busy process): a prediction whose deadline leaves less than the
# call time plus this is dropped. Measured with the SDK's callers on the 2-core machine
# (benchmarks.overload, 20 ms model): at 400 callers the call time alone let 8-25 % of the
# predictions answer after their caller's deadline, 10 ms more 0.8-1.1 %; 20 ms more dropped
# callers at 300 that would have had their answer in time (1.7-2.4 % failing, 0-0.6 % with 10).
DELIVERY_SECONDS = 0.01


class Caller(Protocol):
    """What admission needs of a request's caller (the shape of ``grpc.aio.ServicerContext``)."""

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline; ``None`` without a deadline."""

    def cancelled(self) -> bool:
        """Whether the caller has cancelled or gone away."""


def gone_reason(caller: Caller | None) -> str | None:
    """``"deadline"`` or ``"cancelled"`` for a caller that is gone, else ``None``."""
    if caller is None:
        return None
    remaining = caller.time_remaining()
    if remaining is not None and remaining <= 0:
        return "deadline"
    return "cancelled" if caller.cancelled() else None


def gone_error(reason: str, model: str, needed: float = 0.0) -> DruckerError:
    """The error that ends a request whose caller is gone for ``reason``; ``needed`` (s): the
    call time measured for a prediction whose deadline was nearer than that."""
    if reason == "deadline" and needed > 0:
        return DeadlineExceededError(
            f"the deadline is nearer than the {1000 * needed:.1f} ms a prediction of "
            f"{model!r} takes to answer: dropped before it started"
        )
    if reason == "deadline":
        return DeadlineExceededError(
            f"the deadline passed before the prediction of {model!r} could start"
        )
    return CallerGoneError(f"the caller cancelled before the prediction of {model!r} started")


def retried(caller: Caller | None) -> bool:
    """Whether the caller's request is a retry (gRPC's ``grpc-previous-rpc-attempts``
    metadata, or the SDK's ``x-drucker-previous-attempts``); a caller that cannot say (no
    ``invocation_metadata``, e.g. REST) counts as one, so that it is never held behind the line
    of refused callers."""
    metadata = getattr(caller, "invocation_metadata", None)
    if metadata is None:
        return True
    return any(key in RETRY_METADATA_KEYS for key, _ in metadata() or ())


class Admission:
    """The waiting room of one model: at most ``max_waiting`` predictions queued (0: no bound).

    ``clock`` (``time.monotonic`` by default) times the waits and the drain rate.
    """

    def __init__(
        self, model: str, max_waiting: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.model = model
        self.max_waiting = max_waiting
        self.waiting = 0
        self.refused = dict.fromkeys(REASONS, 0)  # turned away at admit
        self.dropped = dict.fromkeys(REASONS, 0)  # taken out of the queue unrun
        self.wait_bounds: tuple[float, ...] = WAIT_BUCKETS
        self.wait_buckets = [0] * (len(WAIT_BUCKETS) + 1)  # the last one is +Inf
        self.wait_sum = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._window_start = clock()
        self._window_left = 0
        self._rate = 0.0  # predictions leaving the queue per second, as last measured
        self._next_return = 0.0  # the first free return time for the next refused caller
        # Measured seconds of a plugin call, by the bit length of its size (rows or batch).
        self._call_seconds: dict[int, float] = {}

    def admit(self, caller: Caller | None) -> float:
        """Let one prediction join the queue; return its arrival time for :meth:`leave`.

        :raises DeadlineExceededError: the caller's deadline has passed already.
        :raises CallerGoneError: the caller has cancelled already.
        :raises OverloadedError: ``max_waiting`` predictions wait already (with a pushback).
        """
        self.check(caller)
        with self._lock:
            now = self._clock()
            limit = self.max_waiting
            if limit and self._next_return > now and retried(caller):
                limit += limit // 4  # refused callers are due back: room for them first
            if not self.max_waiting or self.waiting < limit:
                self.waiting += 1
                return now
            self.refused["queue_full"] += 1
            remaining = caller.time_remaining() if caller is not None else None
            pushback = self._pushback_ms(now, remaining)
        raise OverloadedError(
            f"{self.max_waiting} predictions of {self.model!r} are waiting already "
            f"(admission.max_waiting); retry in {pushback} ms",
            pushback,
        )

    def check(self, caller: Caller | None) -> None:
        """Refuse a caller that is gone already (a prediction that runs without queueing).

        :raises DeadlineExceededError: the caller's deadline has passed already.
        :raises CallerGoneError: the caller has cancelled already.
        """
        if caller is None:
            return
        remaining = caller.time_remaining()  # inline: this runs on every rpc
        if remaining is not None and remaining <= 0:
            self._refuse("deadline")
        if caller.cancelled():
            self._refuse("cancelled")

    def _refuse(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1
        raise gone_error(reason, self.model)

    def record(self, seconds: float, size: int = 1) -> None:
        """Note that a plugin call for ``size`` rows (or a batch of that many) took ``seconds``.

        Calls of alike sizes (the same bit length) share a moving average; a lost update when
        two threads record at once only delays it by one call, so no lock.
        """
        key = size.bit_length()
        known = self._call_seconds.get(key)
        self._call_seconds[key] = (
            seconds if known is None else known + CALL_WEIGHT * (seconds - known)
        )

    def call_seconds(self, size: int = 1) -> float:
        """The measured time of a plugin call of ``size``: that of the calls of alike size,
        else of the nearest smaller ones measured (a bigger call takes no less); 0 when none
        was recorded yet."""
        for key in range(size.bit_length(), 0, -1):
            known = self._call_seconds.get(key)
            if known is not None:
                return known
        return 0.0

    def leave(self, arrived: float, caller: Caller | None, size: int = 1) -> None:
        """Take one prediction out of the queue, right before the plugin runs it (in a call of
        ``size`` rows or a batch of that many).

        :raises DeadlineExceededError: its caller's deadline passed while it waited, or is
            nearer than the measured time of such a call plus ``DELIVERY_SECONDS`` (its
            answer could not reach the caller in time).
        :raises CallerGoneError: its caller cancelled while it waited.
        """
        measured = self.call_seconds(size)
        needed = measured + DELIVERY_SECONDS if measured else 0.0
        reason = self._left(arrived, caller, needed=needed)
        if reason == "late":
            raise gone_error("deadline", self.model, needed)
        if reason is not None:
            raise gone_error(reason, self.model)

    def abandon(self, arrived: float, caller: Caller | None) -> None:
        """Take out a prediction that will not run (its rpc was cancelled while it waited):
        for its deadline when that was (about) due, else because the caller cancelled."""
        remaining = caller.time_remaining() if caller is not None else None
        due = remaining is not None and remaining <= DEADLINE_SLACK_SECONDS
        self._left(arrived, caller, "deadline" if due else "cancelled")

    def _left(
        self,
        arrived: float,
        caller: Caller | None,
        reason: str | None = None,
        needed: float = 0.0,
    ) -> str | None:
        """Count one prediction out of the queue; the reason it is dropped (``"late"``: its
        deadline is nearer than ``needed`` seconds, counted as ``deadline``), else ``None``."""
        now = self._clock()
        waited = now - arrived
        if reason is None and caller is not None:  # inline: once per queued rpc
            remaining = caller.time_remaining()
            if remaining is not None and remaining <= 0:
                reason = "deadline"
            elif caller.cancelled():
                reason = "cancelled"
            elif remaining is not None and remaining < needed:
                reason = "late"
        with self._lock:
            self.waiting -= 1
            self.wait_buckets[bisect.bisect_left(WAIT_BUCKETS, waited)] += 1
            self.wait_sum += waited
            if reason is not None:
                self.dropped["deadline" if reason == "late" else reason] += 1
            if not self.waiting:  # idle time says nothing of the drain rate: start afresh
                self._window_start, self._window_left = now, 0
                return reason
            self._window_left += reason is None  # drops leave at once: not the drain rate
            elapsed = now - self._window_start
            if elapsed >= RATE_WINDOW_SECONDS:
                measured = self._window_left / elapsed
                self._rate = measured if not self._rate else (self._rate + measured) / 2
                self._window_start, self._window_left = now, 0
        return reason

    def _pushback_ms(self, now: float, remaining: float | None) -> int:
        """When to come back: the refused callers' returns spread at the measured drain rate.

        The first refused caller is told to return when the queue has room, each later one a
        drain interval after the one before (a line, while returns are outstanding), so that
        retries arrive as the queue makes room instead of all at once (and find a little room
        past the bound, see :meth:`admit`). A caller whose turn comes after its deadline
        takes no place in the line. Jitter of up to one interval either way keeps returns
        apart. Under the lock.
        """
        if self._rate <= 0:
            return int(UNMEASURED_PUSHBACK_MS * (1 + random.random() / 2))  # no secret
        interval = 1 / self._rate
        room = now + (self.waiting - self.max_waiting + 1) * interval
        slot = max(self._next_return, room)
        if remaining is None or slot - now + self.waiting * interval <= remaining:
            self._next_return = slot + interval
        jittered = slot - now + interval * (2 * random.random() - 1)  # spreads, no secret
        return int(min(MAX_PUSHBACK_MS, max(MIN_PUSHBACK_MS, math.ceil(1000 * jittered))))


class Queued(Generic[T]):
    """One admitted prediction on its way to a predict thread: run once, or abandoned unrun.

    :raises OverloadedError: and the other errors of :meth:`Admission.admit`, when made.
    """

    __slots__ = (
        "_admission",
        "_arrived",
        "_call",
        "_caller",
        "_lock",
        "_size",
        "_started",
        "_state",
    )

    def __init__(
        self, admission: Admission, caller: Caller | None, call: Callable[[], T], size: int = 1
    ) -> None:
        self._arrived = admission.admit(caller)
        self._admission = admission
        self._caller = caller
        self._call = call
        self._size = size  # the rows of the call: its measured time is per size
        self._lock = threading.Lock()
        self._state = 0  # 0 waiting, 1 started, 2 abandoned
        self._started = 0.0  # perf_counter() when the call started

    def run(self) -> T:
        """Leave the queue and call (in the thread); raises when the caller went meanwhile or
        could not have its answer in time."""
        with self._lock:
            if self._state:  # abandoned: nobody awaits the answer any more
                raise CallerGoneError("the rpc was cancelled before its prediction started")
            self._state = 1
        self._admission.leave(self._arrived, self._caller, self._size)
        self._started = time.perf_counter()
        return self._call()

    def answered(self) -> None:
        """The call's answer (or error) is back where it is awaited (on the event loop): its
        time from the start, hand-back included, is measured for the admission."""
        if self._started:
            self._admission.record(time.perf_counter() - self._started, self._size)

    def abandon(self) -> None:
        """The rpc was cancelled: leave the queue unrun, unless the call has started."""
        with self._lock:
            if self._state:
                return
            self._state = 2
        self._admission.abandon(self._arrived, self._caller)
