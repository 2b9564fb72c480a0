"""The metrics port's ASGI application: ``/metrics``, ``/livez`` and ``/readyz``.

A bare ASGI callable: three fixed paths need no web framework.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from drucker.observability import Metrics

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
TEXT = b"text/plain; charset=utf-8"


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = TEXT) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsApp:
    """Serves the metrics and the HTTP probes of one server.

    :param ready: whether the server serves predictions now (a model is loaded, the gRPC
        server is SERVING and not draining).
    :param reason: why it does not, when the server knows (``/readyz`` says it).
    """

    def __init__(
        self,
        metrics: Metrics,
        ready: Callable[[], bool],
        reason: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._metrics = metrics
        self._ready = ready
        self._reason = reason

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path not in ("/metrics", "/livez", "/readyz"):
            await _respond(send, 404, b"not found; try /metrics, /livez or /readyz\n")
        elif method not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n")
        elif path == "/livez":
            await _respond(send, 200, b"live\n")
        elif path == "/readyz":
            if self._ready():
                await _respond(send, 200, b"ready\n")
            else:
                reason = self._reason()
                text = f"not ready: {reason}\n" if reason else "not ready\n"
                await _respond(send, 503, text.encode())
        else:
            # The files of many workers take a while to read: not on the loop. One process's
            # counts are read on the loop, where they change, so a scrape sees whole rpcs.
            if self._metrics.multiprocess:
                self._metrics.share()  # this worker's counts up to now
                body, content_type = await asyncio.to_thread(self._metrics.exposition)
            else:
                body, content_type = self._metrics.exposition()
            await _respond(send, 200, body, content_type.encode())
