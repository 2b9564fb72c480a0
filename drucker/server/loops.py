"""Which event loop a server process runs on (``app.event_loop``).

uvloop (libuv under asyncio's interface) runs grpc.aio and uvicorn unchanged and takes about 5 %
less CPU per rpc than the standard library's loop: measured side by side, a bare grpc.aio
server answers 1.06 times as many requests on it (``BENCHMARKS.md``). MLServer and uvicorn
pick it by default too. It is the default where it is installed (drucker depends on it on
Linux and macOS); ``asyncio`` keeps the standard loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drucker.errors import ConfigurationError

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(choice: str) -> LoopFactory | None:
    """The factory of the event loop ``choice`` names; ``None`` for the standard loop.

    :raises ConfigurationError: for ``uvloop`` when it is not installed.
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigurationError(
                "app.event_loop is uvloop, but uvloop is not installed (pip install uvloop)"
            ) from None
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what runs ``loop``, for the start-up log."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
