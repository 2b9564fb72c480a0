"""The one polling helper of the tests: wait for what another process or thread makes true."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
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


def http_status(url: str, timeout: float = 3) -> int:
    """The HTTP status of ``GET url`` as a prober sees it: 0 while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0
