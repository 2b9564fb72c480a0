"""uvicorn's httptools protocol with a deadline for each request's head (slow-loris headers).

uvicorn times out idle keep-alive connections, but not a connection that never sends a whole
request head: a client trickling header bytes would hold its connection forever. This protocol
closes a connection whose request line and headers have not all arrived ``head_timeout``
seconds after it opened or after the request began; bodies have their own deadline in the
application (408). With ``max_connections``, a connection past that many open ones is closed as
soon as it is accepted, so slow or idle clients cannot hold all of the process's file
descriptors (and starve the gRPC port of new connections).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadDeadlineProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 with a deadline for each request head (``head_timeout`` seconds)."""

    head_timeout = 30.0
    max_connections = 0  # 0: no cap

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections and len(self.server_state.connections) > self.max_connections:
            transport.close()  # over the cap: its file descriptor is freed at once
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


def with_head_timeout(seconds: float, max_connections: int = 0) -> type[HeadDeadlineProtocol]:
    """The protocol class with a deadline of ``seconds`` for each request head, and at most
    ``max_connections`` open connections (0: no cap)."""
    values = {"head_timeout": seconds, "max_connections": max_connections}
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), values)
