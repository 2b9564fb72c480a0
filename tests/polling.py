"""The one polling helper of the tests: wait for what another process or thread makes true."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    what: str = "condition",
    limit: float = 30,
    *,
    interval: float = 0.01,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``condition`` until it returns something true, and return that.

    Exceptions of the types in ``ignore`` count as "not yet" (a port that does not answer
    yet). After ``limit`` seconds, ``TimeoutError`` names ``what``.
    """
    deadline = time.monotonic() + limit
    while True:
        try:
            result = condition()
        except ignore:
            result = None  # type: ignore[assignment]
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {limit} s for {what}")
        time.sleep(interval)
