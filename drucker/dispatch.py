"""How predictions run: on the event loop, in the predict threads, or through the batcher.

The :class:`Dispatcher` is built once at start-up from the settings and what the plugin offers.
Protocol adapters hand it one input (:meth:`Dispatcher.predict`) or the rows of one request
(:meth:`Dispatcher.predict_many`) and never see an executor or a batcher.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from drucker.batching import Batcher
from drucker.kinds import Kind
from drucker.observability import tracing
from drucker.runtime import Runtime
from drucker.types import PredictResult

# A request of more rows than this is predicted off the event loop even with
# ``app.predict_threads: 0``, so one big tensor cannot stall health checks and other rpcs.
INLINE_MAX_ROWS = 64


class Dispatcher:
    """Runs the runtime's predictions the way the settings and the plugin call for.

    - a plugin with ``drucker_predict_batch`` (and ``batching.enabled``): single inputs go
      through the adaptive :class:`~drucker.batching.Batcher`;
    - ``app.predict_threads`` > 0: predictions run in that many threads;
    - ``app.predict_threads: 0``: predictions run on the event loop.
    """

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        threads = settings.predict_threads
        self._executor = (
            ThreadPoolExecutor(threads, thread_name_prefix="drucker-predict")
            if threads > 0
            else None
        )
        self._batcher = (
            Batcher(
                runtime,
                settings.batch_max_size,
                settings.batch_max_wait_ms / 1000,
                inline=threads == 0,
            )
            if settings.batching and runtime.can_batch
            else None
        )

    @property
    def batching(self) -> bool:
        """Whether single inputs are gathered into batches."""
        return self._batcher is not None

    async def predict(
        self, value: Any, option: dict[str, Any], input_kind: Kind, output_kind: Kind
    ) -> PredictResult:
        """Predict one input.

        :raises DruckerError: as :meth:`Runtime.predict` does.
        """
        with tracing.predict_span(self.runtime.active, input_kind, output_kind):
            if self._batcher is not None:
                return await self._batcher.predict(value, option, input_kind, output_kind)
            if self._executor is None:
                return self.runtime.predict(value, option, input_kind, output_kind)
            call = functools.partial(self.runtime.predict, value, option, input_kind, output_kind)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def predict_many(
        self, values: list[Any], option: dict[str, Any], input_kind: Kind, output_kind: Kind
    ) -> list[PredictResult]:
        """Predict the rows of one request, in order; the request fails as a whole.

        One row is predicted like a single input (so it can share a batch with other
        requests); more rows go to the plugin in one batch call when it has a batch hook.

        :raises DruckerError: the first failure.
        """
        if len(values) == 1:
            return [await self.predict(values[0], option, input_kind, output_kind)]
        call = functools.partial(self.runtime.predict_many, values, option, input_kind, output_kind)
        with tracing.predict_span(self.runtime.active, input_kind, output_kind, len(values)):
            if self._executor is None and len(values) <= INLINE_MAX_ROWS:
                return call()
            # A big request without predict threads runs in the loop's default executor.
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Stop the threads (queued work is abandoned)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._batcher is not None:
            self._batcher.close()
