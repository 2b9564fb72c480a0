"""Serve an ASGI application with uvicorn inside the running asyncio loop.

The gRPC server and any HTTP endpoints (metrics and probes, a REST binding) share one process
and one event loop: :class:`HttpServer` binds its socket up front (so a taken port is a clear
start-up error, like the gRPC port), starts with the gRPC server and stops gracefully after it.
uvicorn's own signal handling is not used: the caller owns SIGTERM.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from drucker.errors import ConfigurationError
from drucker.server.http_deadline import with_head_timeout

ASGIApp = Any  # an ASGI 3 callable: async (scope, receive, send) -> None

# How each side port is chosen, for the message when it cannot be bound.
PORT_SETTINGS = {
    "http": "choose another with --http-port, the setting http.port or $DRUCKER_HTTP_PORT "
    "(0 turns it off)",
    "metrics": "choose another with --metrics-port, the setting metrics.port or "
    "$DRUCKER_METRICS_PORT (0 turns it off)",
}


def _listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    bind_host = host.strip("[]") or "::"
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and accepted sockets inherit it; without it keep-alive answers wait for delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and bind_host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bind_host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


class HttpServer:
    """One ASGI application on one port, run by uvicorn on the current event loop.

    :param name: what the port serves, for error messages (e.g. ``"metrics"``).
    :param reuse_port: bind with ``SO_REUSEPORT`` (several worker processes share the port).
    :param grace_seconds: how long open requests may finish when stopping.
    :param head_timeout: close connections whose request head takes longer (seconds); ``None``
        leaves uvicorn's protocol as it is.
    :param tls: ``(certificate, key)`` PEM files: the port speaks HTTPS only (the same files
        as the gRPC port's ``tls.cert`` and ``tls.key``); ``None`` for plain HTTP.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        port: int,
        name: str = "http",
        reuse_port: bool = False,
        grace_seconds: float = 5.0,
        head_timeout: float | None = None,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.tls = tls
        self._app = app
        self._address = (host, port, reuse_port)  # where and how `bind` listens
        self._grace = grace_seconds
        self._head_timeout = head_timeout
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.port: int | None = None

    def bind(self) -> int:
        """Bind and listen; return the port (useful when asked for port 0).

        :raises ConfigurationError: when the address cannot be bound.
        """
        try:
            self._socket = _listening_socket(*self._address)
        except ConfigurationError as error:
            remedy = PORT_SETTINGS.get(self.name)
            suffix = f"; {remedy}" if remedy else ""
            raise ConfigurationError(f"{self.name} port: {error}{suffix}") from None
        self.port = int(self._socket.getsockname()[1])
        return self.port

    async def start(self) -> None:
        """Start answering requests on the bound socket (binds first if not yet bound)."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,  # records go through the standard logging set up by the caller
            access_log=False,
            timeout_graceful_shutdown=max(int(self._grace), 1),
            http=with_head_timeout(self._head_timeout) if self._head_timeout else "auto",
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[self._socket])
        self._server = server
        # uvicorn's tick keeps the Date header current and watches should_exit.
        self._ticker = asyncio.create_task(server.main_loop())

    async def stop(self) -> None:
        """Stop accepting connections and let open requests finish within the grace period."""
        server, self._server = self._server, None
        if server is None:
            if self._socket is not None:
                self._socket.close()
            return
        server.should_exit = True
        if self._ticker is not None:
            await self._ticker
        await server.shutdown(sockets=[self._socket] if self._socket else None)
        self._socket = None
