"""How predictions run: on the event loop, in the predict threads, or through the batcher.

The :class:`Dispatcher` is built once at start-up from the settings and what the plugin offers.
Protocol adapters hand it one input (:attr:`Dispatcher.predict`), the rows of one request
(:meth:`Dispatcher.predict_rows`) or its numeric tensor (:meth:`Dispatcher.predict_tensor`)
and never see an executor or a batcher. Whether a call runs
on the loop or in a thread is decided per serving model from its measured call times
(:class:`~drucker.placement.Placement`): a quick model skips the thread hand-off, a slow one
keeps the loop free for other rpcs.

Every method takes an optional ``version``: a loaded version of the model (a traffic split's
canary, a shadow) that answers instead of the serving one, through the same batcher, threads
and admission; ``low`` marks a shadow's call, which is never admitted nor counted as waiting.

Admission (:mod:`drucker.admission`) happens here, for every protocol: each call takes the
request's ``caller`` (its deadline and cancellation; a ``grpc.aio.ServicerContext`` is one), a
prediction that would queue is refused at once when ``admission.max_waiting`` wait already,
and one whose caller left while it waited never reaches the plugin.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from drucker.admission import Admission, Caller, Queued
from drucker.batching import AloneCall, BatchCall, Batcher
from drucker.errors import ModelNotLoadedError
from drucker.kinds import Kind
from drucker.observability import routed, tracing
from drucker.placement import Placement
from drucker.runtime import ActiveModel, Runtime
from drucker.types import PredictResult, TensorResult

T = TypeVar("T")

# A request of more rows than this is predicted off the event loop even with
# ``app.predict_threads: 0``, so one big tensor cannot stall health checks and other rpcs; a
# tensor of at most this many rows can share a batch with concurrent ones.
INLINE_MAX_ROWS = 64

# Names the model of the rpc being answered (the ``model`` label of its series).
_route = routed.route


class Dispatcher:
    """Runs the runtime's predictions the way the settings and the plugin call for.

    - a plugin with ``drucker_predict_batch`` (and ``batching.enabled``): single inputs go
      through the adaptive :class:`~drucker.batching.Batcher`;
    - ``app.predict_threads`` > 0: predictions run in that many threads, or on the event loop
      while the serving model's calls are measured quicker than ``app.loop_predict_ms``;
    - ``app.predict_threads: 0``: predictions run on the event loop.

    ``traced`` False (no tracing configured) leaves the ``drucker.predict`` span out of
    :attr:`predict`.
    """

    def __init__(self, runtime: Runtime, *, traced: bool = True) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.draining = False
        self._name = runtime.name  # the ``model`` label of the rpcs it answers
        self.admission = Admission(settings.application_name, settings.admission_max_waiting)
        # predict(value, option, input_kind, output_kind) -> PredictResult: one input; raises
        # as Runtime.predict does, UNAVAILABLE once draining. Without ``traced`` (no tracing
        # configured) it skips the span's context manager: three calls less per rpc.
        self.predict = self._predict_traced if traced else self._predict_plain
        threads = settings.predict_threads
        self._executor = (
            ThreadPoolExecutor(threads, thread_name_prefix="drucker-predict")
            if threads > 0
            else None
        )
        limit = settings.loop_predict_ms / 1000
        # One placement per way of calling the plugin: their call times differ.
        self._single = Placement(limit, threads=threads > 0)
        self._many = Placement(limit, threads=threads > 0)
        self._tensor = Placement(limit, threads=threads > 0)

        def batcher(call: BatchCall, alone: AloneCall, retry_single: bool) -> Batcher:
            return Batcher(
                runtime,
                settings.batch_max_size,
                settings.batch_max_wait_ms / 1000,
                placement=Placement(limit, threads=threads > 0),
                call=call,
                alone=alone,
                retry_single=retry_single,
                admission=self.admission,
            )

        # A failed batch hook call is retried per request with drucker_predict (even for one
        # request, which that hook may still answer); a failed tensor call per request with
        # the same hook (so a lone request is not called twice).
        self._batcher = (
            batcher(runtime.predict_requests, runtime.predict, True)
            if settings.batching and runtime.can_batch
            else None
        )
        self._tensor_batcher = (
            batcher(runtime.predict_tensor_requests, runtime.predict_tensor, False)
            if settings.batching and runtime.can_predict_tensor
            else None
        )

    @property
    def batching(self) -> bool:
        """Whether single inputs are gathered into batches."""
        return self._batcher is not None

    async def _predict_plain(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        caller: Caller | None = None,
        version: ActiveModel | None = None,
        low: bool = False,
    ) -> PredictResult:
        """Predict one input (``predict`` without tracing: the hot path, one coroutine).

        :raises DruckerError: as :meth:`Runtime.predict` does; ``UNAVAILABLE`` once draining;
            the refusals of :class:`~drucker.admission.Admission`.
        """
        _route(self._name)
        if self.draining:
            raise ModelNotLoadedError("the server is shutting down")
        if self._batcher is not None:
            result: PredictResult = await self._batcher.predict(
                value, option, input_kind, output_kind, None, caller, version, low
            )
            return result
        serving = self.runtime.active  # the placement follows the serving version's times
        model = version or serving
        placement = self._single
        if placement.on_loop(serving):  # the quick path: no partial, no executor
            if caller is not None:
                self.admission.check(caller)
            started = time.perf_counter()
            try:
                return self.runtime.predict(value, option, input_kind, output_kind, model)
            finally:
                placement.record(model, time.perf_counter() - started)
        call = functools.partial(
            self.runtime.predict, value, option, input_kind, output_kind, model
        )
        return await self._queued(functools.partial(_timed, placement, model, call), caller, 1, low)

    async def _predict_traced(
        self,
        value: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        caller: Caller | None = None,
        version: ActiveModel | None = None,
        low: bool = False,
    ) -> PredictResult:
        """Predict one input in a ``drucker.predict`` span (when the rpc is traced)."""
        if self.draining:
            raise ModelNotLoadedError("the server is shutting down")
        with tracing.predict_span(version or self.runtime.active, input_kind, output_kind):
            return await self._predict_plain(
                value, option, input_kind, output_kind, caller, version, low
            )

    async def predict_rows(
        self,
        values: list[Any],
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        caller: Caller | None = None,
        version: ActiveModel | None = None,
        low: bool = False,
    ) -> list[PredictResult]:
        """Predict the rows of one request, in order; the request fails as a whole.

        One row is predicted like a single input (so it can share a batch with other
        requests); more rows go to the plugin in one batch call when it has a batch hook.

        :raises DruckerError: the first failure; ``UNAVAILABLE`` once draining.
        """
        _route(self._name)
        if self.draining:
            raise ModelNotLoadedError("the server is shutting down")
        if len(values) == 1:
            value = values[0]
            return [
                await self.predict(value, option, input_kind, output_kind, caller, version, low)
            ]
        call = functools.partial(
            self.runtime.predict_rows, values, option, input_kind, output_kind, version
        )
        serving = self.runtime.active
        with tracing.predict_span(version or serving, input_kind, output_kind, len(values)):
            if len(values) <= INLINE_MAX_ROWS:
                return await self._run(self._many, call, serving, caller, len(values), low)
            # A big request without predict threads runs in the loop's default executor.
            return await self._queued(call, caller, len(values), low)

    async def predict_tensor(
        self,
        rows: Any,
        option: dict[str, Any],
        input_kind: Kind,
        output_kind: Kind,
        caller: Caller | None = None,
        version: ActiveModel | None = None,
        low: bool = False,
    ) -> TensorResult:
        """Predict the rows of one numeric tensor (a 2-d array) with the plugin's tensor hook.

        With batching on, a tensor of at most ``INLINE_MAX_ROWS`` rows and no option shares a
        call with concurrent ones of the same dtype and width (their rows stacked).

        :raises DruckerError: the plugin's failure; ``UNAVAILABLE`` once draining.
        """
        _route(self._name)
        if self.draining:
            raise ModelNotLoadedError("the server is shutting down")
        serving = self.runtime.active
        with tracing.predict_span(version or serving, input_kind, output_kind, len(rows)):
            if self._tensor_batcher is not None and len(rows) <= INLINE_MAX_ROWS:
                group = _tensor_group(rows, option)
                if group is not None:
                    answer: TensorResult = await self._tensor_batcher.predict(
                        rows, option, input_kind, output_kind, group, caller, version, low
                    )
                    return answer
            call = functools.partial(
                self.runtime.predict_tensor, rows, option, input_kind, output_kind, version
            )
            if len(rows) <= INLINE_MAX_ROWS:
                return await self._run(self._tensor, call, serving, caller, len(rows), low)
            return await self._queued(call, caller, len(rows), low)

    async def _run(
        self,
        placement: Placement,
        call: Callable[[], T],
        model: object,
        caller: Caller | None,
        size: int,
        low: bool = False,
    ) -> T:
        """``call()`` (of ``size`` rows) on the loop or in a predict thread, as ``placement``
        decides for ``model`` (the serving model's reference); timed."""
        if placement.on_loop(model):
            self.admission.check(caller)
            return _timed(placement, model, call)
        partial = functools.partial(_timed, placement, model, call)
        return await self._queued(partial, caller, size, low)

    async def _queued(
        self, call: Callable[[], T], caller: Caller | None, size: int = 1, low: bool = False
    ) -> T:
        """``call()`` (of ``size`` rows) in a predict thread (the loop's default executor
        without them), admitted into the queue and run only if its caller still waits, long
        enough for such a call, when a thread takes it; a ``low`` call (a shadow's) is not
        admitted."""
        if low:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        queued = Queued(self.admission, caller, call, size)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, queued.run)
        except asyncio.CancelledError:
            queued.abandon()
            raise
        finally:
            queued.answered()  # timed until the answer is back on the loop

    def drain(self) -> None:
        """Refuse new predictions (``UNAVAILABLE``); those already running finish."""
        self.draining = True

    def close(self) -> None:
        """Stop the threads (queued work is abandoned) and drop the placements' references to
        the model, so an unloaded model is freed."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        for placement in (self._single, self._many, self._tensor):
            placement.forget()
        for batcher in (self._batcher, self._tensor_batcher):
            if batcher is not None:
                batcher.close()


def _tensor_group(rows: Any, option: dict[str, Any]) -> Hashable | None:
    """Which tensors may be stacked with ``rows``: same dtype and width, and no option (the
    hook takes one option for all its rows); ``None`` when it goes alone."""
    if option:
        return None
    return (rows.dtype.str, rows.shape[1])


def _timed(placement: Placement, model: object, call: Callable[[], T]) -> T:
    """``call()`` with its wall-clock time recorded in ``placement``."""
    started = time.perf_counter()
    try:
        return call()
    finally:
        placement.record(model, time.perf_counter() - started)
