"""Adaptive batching: concurrent requests of one rpc answered by one plugin batch call.

While a batch is being predicted, new requests queue up; when it is done, everything queued
(up to ``max_size``) becomes the next batch. A lone caller's request is predicted at once. When
requests come concurrently (more than one queued, or the previous batch held more than one),
the batcher pauses up to ``max_wait`` before a batch that is not full: the gRPC server hands
requests to Python one event-loop turn at a time, so without the pause batches stay near one
even at high concurrency (measured: 1 ms multiplies throughput at concurrency 32 by 2.5 on the
benchmark model; see BENCHMARKS.md).

Batches run in one worker thread, or ``inline`` on the event loop: no thread hand-off, the
fastest for quick models, but a batch then holds up every other rpc while it computes.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from drucker.errors import DruckerError
from drucker.kinds import Kind
from drucker.runtime import Runtime
from drucker.types import PredictResult


@attrs.define
class _Pending:
    value: Any
    option: dict[str, Any]
    future: asyncio.Future[PredictResult]


@attrs.define
class _Lane:
    """The queue of one (input kind, output kind) pair."""

    pending: list[_Pending] = attrs.field(factory=list)
    draining: bool = False
    last_size: int = 0  # size of the previous batch: above 1 means requests are concurrent


class Batcher:
    """Gathers predictions per rpc into ``Runtime.predict_batch`` calls."""

    def __init__(
        self, runtime: Runtime, max_size: int, max_wait_seconds: float, inline: bool = False
    ) -> None:
        self._runtime = runtime
        self._max_size = max_size
        self._max_wait = max_wait_seconds
        self._lanes: dict[tuple[Kind, Kind], _Lane] = {}
        self._executor = (
            None if inline else ThreadPoolExecutor(1, thread_name_prefix="drucker-batch")
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.batch_sizes: list[int] = []  # sizes of recent batches, for tests and metrics

    async def predict(
        self, value: Any, option: dict[str, Any], input_kind: Kind, output_kind: Kind
    ) -> PredictResult:
        """Queue one prediction and wait for its answer (raises its error)."""
        lane = self._lanes.setdefault((input_kind, output_kind), _Lane())
        future: asyncio.Future[PredictResult] = asyncio.get_running_loop().create_future()
        lane.pending.append(_Pending(value, option, future))
        if not lane.draining:
            lane.draining = True
            task = asyncio.create_task(self._drain(lane, input_kind, output_kind))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _should_wait(self, lane: _Lane) -> bool:
        """Pause for more requests only when they come concurrently and the batch is not full.

        A lone caller (one request at a time) never waits, so batching adds no latency to it.
        """
        if self._max_wait <= 0 or len(lane.pending) >= self._max_size:
            return False
        return len(lane.pending) > 1 or lane.last_size > 1

    async def _drain(self, lane: _Lane, input_kind: Kind, output_kind: Kind) -> None:
        loop = asyncio.get_running_loop()
        try:
            while lane.pending:
                if self._should_wait(lane):
                    await asyncio.sleep(self._max_wait)
                batch = lane.pending[: self._max_size]
                del lane.pending[: self._max_size]
                batch = [item for item in batch if not item.future.done()]  # cancelled calls
                if not batch:
                    continue
                lane.last_size = len(batch)
                if len(self.batch_sizes) < 10_000:
                    self.batch_sizes.append(len(batch))
                values = [item.value for item in batch]
                options = [item.option for item in batch]
                predict = self._runtime.predict_batch
                try:
                    if self._executor is None:
                        answers = predict(values, options, input_kind, output_kind)
                    else:
                        answers = await loop.run_in_executor(
                            self._executor, predict, values, options, input_kind, output_kind
                        )
                except DruckerError as error:
                    answers = [error] * len(batch)
                for item, answer in zip(batch, answers, strict=True):
                    if item.future.done():
                        continue
                    if isinstance(answer, DruckerError):
                        item.future.set_exception(answer)
                    else:
                        item.future.set_result(answer)
                if self._executor is None:
                    await asyncio.sleep(0)  # let the rpcs that arrived meanwhile join the lane
        finally:
            lane.draining = False

    def close(self) -> None:
        """Stop the batch thread (queued work is abandoned)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
