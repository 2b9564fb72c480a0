"""The deadline of one client call that makes several rpcs: each rpc gets what is left."""

from __future__ import annotations

import time

import grpc

from drucker.client.errors import DeadlineExceeded


class Budget:
    """``seconds`` for a whole call (e.g. a signature read, then the prediction, then a second
    try after the serving model changed): no rpc of it runs past the call's deadline."""

    __slots__ = ("_end",)

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left of the call (0 or less once it is over)."""
        return self._end - time.monotonic()

    def left(self) -> float:
        """Seconds left for the call's next rpc.

        :raises DeadlineExceeded: none is left.
        """
        left = self._end - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(
                "the call's timeout passed before its next rpc", grpc.StatusCode.DEADLINE_EXCEEDED
            )
        return left
