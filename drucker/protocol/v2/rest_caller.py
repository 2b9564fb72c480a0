"""The caller of one V2 REST inference, as admission sees it: its deadline and whether it left.

A REST request's deadline comes from, first, the request's ``timeout`` parameter (Triton's
convention: microseconds) and otherwise the ``Request-Timeout`` header (seconds, a decimal
number); without either it has none. The caller counts as gone once the client disconnects
(an ASGI ``http.disconnect`` after the body was read), and the request's task is cancelled
then, so a prediction still queued leaves the queue at once, as a cancelled gRPC call's does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from drucker.errors import InvalidInputError

TIMEOUT_PARAMETER = "timeout"
TIMEOUT_HEADER = b"request-timeout"


def timeout_seconds(parameters: dict[str, Any], headers: dict[bytes, bytes]) -> float | None:
    """The request's time budget in seconds, taken out of ``parameters`` (the plugin does not
    see it); ``None`` when the request sets none.

    :raises InvalidInputError: for a value that is not a positive number.
    """
    micros = parameters.pop(TIMEOUT_PARAMETER, None)
    if micros is not None:
        if isinstance(micros, bool) or not isinstance(micros, int | float) or micros <= 0:
            raise InvalidInputError(
                f"parameter {TIMEOUT_PARAMETER!r} must be a positive number of microseconds, "
                f"got {micros!r}"
            )
        return float(micros) / 1e6
    header = headers.get(TIMEOUT_HEADER)
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise InvalidInputError(
            f"header Request-Timeout must be a positive number of seconds, got {header!r}"
        )
    return seconds


class RestCaller:
    """A REST client's deadline and presence (``time_remaining`` and ``cancelled``, as gRPC's
    servicer context has them); :meth:`watch` notices a disconnect."""

    def __init__(self, timeout: float | None, route_key: bytes | None = None) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._gone = False
        self.route_key = route_key  # the x-drucker-route-key header (sticky traffic routes)

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline; ``None`` without one."""
        if self._deadline is None:
            return None
        return self._deadline - time.monotonic()

    def cancelled(self) -> bool:
        """Whether the client disconnected."""
        return self._gone

    async def watch(
        self, receive: Callable[[], Awaitable[dict[str, Any]]], request: asyncio.Task[Any]
    ) -> None:
        """Wait for the client's disconnect, then cancel ``request`` (the task answering it).

        Run it as a task once the body is read; cancel it when the answer is ready.
        """
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._gone = True
                request.cancel()
                return

    def watching(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> asyncio.Task[None]:
        """A task of :meth:`watch` for the current task."""
        request = asyncio.current_task()
        assert request is not None
        return asyncio.get_running_loop().create_task(self.watch(receive, request))
