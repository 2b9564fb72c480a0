"""Adaptive batching: concurrent requests of one rpc answered by one plugin batch call.

While a batch is being predicted, new requests queue up; when it is done, everything queued
(up to ``max_size``) becomes the next batch. A lone caller's request is predicted at once. When
requests come concurrently (more than one queued, or the previous batch held more than one),
the batcher pauses up to ``max_wait`` before a batch that is not full: the gRPC server hands
requests to Python one event-loop turn at a time, so without the pause batches stay near one
even at high concurrency (measured: 1 ms multiplies throughput at concurrency 32 by 2.5 on the
benchmark model; see BENCHMARKS.md).

When a shared call fails, each of its requests is predicted alone (``alone``), so that one bad
input fails only its own request.

Versions share a lane: a request may name the loaded version (``model``) that answers it (a
traffic split's canary), and a batch taken from the lane makes one call per version among its
requests, so a canary's requests neither wait in a batcher of their own nor break up the
serving version's batches. ``low`` requests (a shadow's) are not admitted and never counted
as waiting: a batch takes them only into the room its primary requests leave, once
``LOW_BATCH`` of them wait, or in a pass of their own when no caller's request came for
``LOW_WAITS`` batch pauses.

Batches run in one worker thread, or ``inline`` on the event loop: no thread hand-off, the
fastest for quick models, but a batch then holds up every other rpc while it computes. With a
:class:`~drucker.placement.Placement`, each batch goes where the measured batch times say.

With an :class:`~drucker.admission.Admission`, a request joins a lane only when admitted, and a
batch leaves out the requests whose caller's deadline passed or who cancelled while they
waited: the plugin never predicts for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from drucker.admission import Admission, Caller
from drucker.errors import DruckerError
from drucker.frames import detach
from drucker.kinds import Kind
from drucker.observability import metrics
from drucker.placement import Placement
from drucker.runtime import Runtime


@attrs.define
class _Pending:
    value: Any
    option: dict[str, Any]
    future: asyncio.Future[Any]
    caller: Caller | None = None
    arrived: float = 0.0  # when admitted (with an admission)
    left: bool = False  # out of the admission's queue (taken into a batch, or abandoned)
    model: Any = None  # the version that answers (an ActiveModel); None: the serving one


# Idle lanes are forgotten once there are this many: a client that sends a new group each time
# (tensors of ever other widths) must not grow the batcher without bound.
MAX_LANES = 64

# ``low`` requests (a shadow's) join a batch of callers' requests once this many wait (or a
# batch without callers' requests): gathered, they cost the loop one plugin call for many.
LOW_BATCH = 16
# A pass of shadow requests alone waits this many batch pauses for callers' requests first (a
# caller's request ends the wait): under load they gather instead of costing a call per gap.
LOW_WAITS = 10

# One call for the values and options of a batch, with its input and output kinds and the
# version that answers (None: the serving one): one answer per value (raises when the shared
# call fails).
BatchCall = Callable[[list[Any], list[dict[str, Any]], Kind, Kind, Any], list[Any]]
# One request predicted alone: its value, option, kinds and version (raises its error).
AloneCall = Callable[[Any, dict[str, Any], Kind, Kind, Any], Any]
LaneKey = tuple[Kind, Kind, Hashable]


@attrs.define
class _Lane:
    """The queue of one (input kind, output kind, group) key."""

    key: LaneKey

    pending: list[_Pending] = attrs.field(factory=list)
    low: list[_Pending] = attrs.field(factory=list)  # shadow requests: the room left over
    draining: bool = False
    low_timer: asyncio.TimerHandle | None = None  # a pass put off for shadow requests alone
    last_size: int = 0  # size of the previous batch: above 1 means requests are concurrent


class Batcher:
    """Gathers predictions per rpc into ``Runtime.predict_requests`` calls (or ``call``'s).

    When the shared call fails, each request of the batch is predicted with ``alone``
    (``Runtime.predict`` by default); a batch of one only when ``retry_single`` (``alone``
    calls another hook than ``call``, which may still answer it). Batches run in the batch
    thread, or on the event loop when ``inline``; a ``placement`` decides per batch instead.
    """

    def __init__(
        self,
        runtime: Runtime,
        max_size: int,
        max_wait_seconds: float,
        inline: bool = False,
        placement: Placement | None = None,
        call: BatchCall | None = None,
        alone: AloneCall | None = None,
        retry_single: bool = True,
        admission: Admission | None = None,
    ) -> None:
        self._runtime = runtime
        self._call: BatchCall = call or runtime.predict_requests
        self._alone: AloneCall = alone or runtime.predict
        self._retry_from = 1 if retry_single else 2
        self._max_size = max_size
        self._max_wait = max_wait_seconds
        self._lanes: dict[tuple[str, str, Hashable], _Lane] = {}
        self._placement = placement or Placement.fixed(on_loop=inline)
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="drucker-batch")
            if self._placement.threads
            else None
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._admission = admission

    async def predict(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        group: Hashable = None,
        caller: Caller | None = None,
        model: Any = None,
        low: bool = False,
    ) -> Any:
        """Queue one prediction and wait for its answer (raises its error); only requests of
        the same kinds and ``group`` share a batch, each answered by ``model`` (a loaded
        version; the serving one by default). A ``low`` request (a shadow's) is not admitted
        and goes only into the room a batch's other requests leave.

        :raises DruckerError: the refusals of the admission (``caller`` gone, queue full).
        """
        admission = None if low else self._admission
        arrived = admission.admit(caller) if admission is not None else 0.0
        # Looked up by the kinds' values: an enum member's hash is a Python call, a str's is not.
        lookup = (input_kind._value_, output_kind._value_, group)
        lane = self._lanes.get(lookup)
        if lane is None:
            if len(self._lanes) >= MAX_LANES:
                self._lanes = {
                    k: v for k, v in self._lanes.items() if v.draining or v.pending or v.low
                }
            lane = self._lanes[lookup] = _Lane((input_kind, output_kind, group))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        pending = _Pending(value, option, future, caller, arrived, model=model)
        (lane.low if low else lane.pending).append(pending)
        if not lane.draining:
            lane.draining = True
            self._start_drain(loop, lane, lane.key)
        elif lane.low_timer is not None and not low:
            # a caller's request ends the wait of shadow requests alone: its batch waits
            # (or not) as if the lane had been idle
            lane.low_timer.cancel()
            lane.low_timer = None
            loop.call_soon(self._drain_inline, lane, lane.key, False)
        try:
            return await future
        except asyncio.CancelledError:
            if admission is not None and not pending.left:
                pending.left = True  # the batch that takes it skips it
                admission.abandon(arrived, caller)
            raise

    def _start_drain(self, loop: asyncio.AbstractEventLoop, lane: _Lane, key: LaneKey) -> None:
        """Drain the lane on the loop or through the batch thread, as the placement says."""
        if self._placement.on_loop(self._runtime.active):
            # A plain callback, not a task: it runs after the rpcs already runnable in this
            # loop turn have queued, and costs less than a task for a lone request.
            loop.call_soon(self._drain_inline, lane, key, False)
        else:
            task = loop.create_task(self._drain_in_thread(lane, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _should_wait(self, lane: _Lane) -> bool:
        """Pause for more requests only when they come concurrently and the batch is not full.

        A lone caller (one request at a time) never waits, so batching adds no latency to it.
        """
        if self._max_wait <= 0 or len(lane.pending) >= self._max_size:
            return False
        if not lane.pending:  # shadow requests alone: callers' requests may come meanwhile
            return True
        return len(lane.pending) > 1 or lane.last_size > 1

    def _take(self, lane: _Lane) -> list[_Pending]:
        """The next batch: up to ``max_size`` queued requests that are still waiting, then
        ``low`` ones in the room left."""
        batch = lane.pending[: self._max_size]
        del lane.pending[: self._max_size]
        if self._admission is not None:
            size = len(batch)
            batch = [item for item in batch if self._admitted(item, size)]
        else:
            batch = [item for item in batch if not item.future.done()]  # cancelled calls
        if batch:  # a pass of shadow requests alone says nothing of the callers' concurrency
            lane.last_size = len(batch)
            metrics.observe_batch(len(batch))
        room = self._max_size - len(batch)
        # Shadow requests gather while callers' requests come: one call for many of them.
        if lane.low and room > 0 and (not batch or len(lane.low) >= LOW_BATCH):
            batch += [item for item in lane.low[:room] if not item.future.done()]
            del lane.low[:room]
        return batch

    def _admitted(self, item: _Pending, size: int) -> bool:
        """Take ``item`` out of the admission's queue (into a batch of about ``size``): whether
        its caller still waits, long enough for such a batch."""
        assert self._admission is not None
        if item.left:  # the rpc was cancelled (and counted)
            return False
        item.left = True
        if item.future.done():  # cancelled, and its task has not run since
            self._admission.abandon(item.arrived, item.caller)
            return False
        try:
            self._admission.leave(item.arrived, item.caller, size)
        except DruckerError as error:
            item.future.set_exception(error)
            return False
        return True

    def _predict(self, batch: list[_Pending], key: LaneKey) -> list[Any]:
        """The batch's answers: one plugin call per version among its requests (errors in
        place); timed for the placement."""
        serving = self._runtime.active
        started = time.perf_counter()
        try:
            version = batch[0].model
            if all(item.model is version for item in batch):  # the usual case: one version
                return self._predict_version(batch, key, version)
            answers: list[Any] = [None] * len(batch)
            versions: dict[int, list[int]] = {}
            for index, item in enumerate(batch):
                versions.setdefault(id(item.model), []).append(index)
            for indexes in versions.values():
                part = [batch[index] for index in indexes]
                found = self._predict_version(part, key, part[0].model)
                for index, answer in zip(indexes, found, strict=True):
                    answers[index] = answer
            return answers
        finally:
            self._placement.record(serving, time.perf_counter() - started)

    def _predict_version(self, batch: list[_Pending], key: LaneKey, version: Any) -> list[Any]:
        """One plugin batch call by ``version``; when it fails, each request alone."""
        values = [item.value for item in batch]
        options = [item.option for item in batch]
        try:
            return list(self._call(values, options, key[0], key[1], version))
        except DruckerError as error:
            if len(batch) < self._retry_from:
                return [detach(error)]
            detach(error)
        return [self._predict_alone(item, key) for item in batch]

    def _predict_alone(self, item: _Pending, key: LaneKey) -> Any:
        """The answer to one request of a failed batch, or its error (not raised)."""
        try:
            return self._alone(item.value, item.option, key[0], key[1], item.model)
        except DruckerError as error:
            return detach(error)

    @staticmethod
    def _deliver(batch: list[_Pending], answers: list[Any]) -> None:
        for item, answer in zip(batch, answers, strict=True):
            if item.future.done():
                continue
            if isinstance(answer, BaseException):
                item.future.set_exception(answer)
            else:
                item.future.set_result(answer)

    def _drain_inline(self, lane: _Lane, key: LaneKey, waited: bool) -> None:
        """Predict the queued batch on the event loop (a callback; reschedules itself)."""
        loop = asyncio.get_running_loop()
        lane.low_timer = None
        if not waited and self._should_wait(lane):
            if lane.pending:
                loop.call_later(self._max_wait, self._drain_inline, lane, key, True)
            else:
                wait = self._max_wait * LOW_WAITS
                lane.low_timer = loop.call_later(wait, self._drain_inline, lane, key, True)
            return
        batch = self._take(lane)
        started = time.perf_counter()
        try:
            answers = self._predict(batch, key) if batch else []
        except Exception as error:  # never leave callers waiting on a broken batch
            answers = [error] * len(batch)
        self._deliver(batch, answers)
        self._answered(started, len(batch))
        if lane.pending or lane.low:  # more than one batch was queued
            self._start_drain(loop, lane, key)
        else:
            lane.draining = False

    async def _drain_in_thread(self, lane: _Lane, key: LaneKey) -> None:
        """Predict queued batches one after another in the batch thread."""
        loop = asyncio.get_running_loop()
        handed_to_loop = False
        try:
            while lane.pending or lane.low:
                if self._placement.on_loop(self._runtime.active):
                    # The batches turned quick: the loop drains the rest.
                    loop.call_soon(self._drain_inline, lane, key, False)
                    handed_to_loop = True
                    return
                if self._should_wait(lane):
                    await asyncio.sleep(self._max_wait * (1 if lane.pending else LOW_WAITS))
                batch = self._take(lane)
                if not batch:
                    continue
                started = time.perf_counter()
                try:
                    answers = await loop.run_in_executor(self._executor, self._predict, batch, key)
                except Exception as error:
                    answers = [error] * len(batch)
                self._deliver(batch, answers)
                self._answered(started, len(batch))
        finally:
            lane.draining = handed_to_loop

    def _answered(self, started: float, size: int) -> None:
        """A batch of ``size`` is answered on the loop: its time from ``started`` (hand-back
        included) is measured for the admission."""
        if self._admission is not None and size:
            self._admission.record(time.perf_counter() - started, size)

    def close(self) -> None:
        """Stop the batch thread (queued work is abandoned); forget the measured model."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._placement.forget()
