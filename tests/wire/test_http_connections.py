"""Every HTTP port closes idle and slow connections and caps how many it holds."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drucker.server.http import HttpServer
from tests.conftest import ECHO_PLUGIN
from tests.metrics_support import http_get
from tests.serving import ThreadedServer, free_port


def _closed_by_server(port: int, limit: float = 10) -> bool:
    """Whether the server closes a connection that sends nothing, within ``limit`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False


def test_the_metrics_port_closes_an_idle_connection_after_its_deadline(
    echo_model: Path,
) -> None:
    settings = {"metrics_port": free_port(), "http_read_timeout_seconds": 0.5}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings) as server:
        port = server.settings.metrics_port
        assert _closed_by_server(port)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as trickling:
            trickling.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
            assert trickling.recv(1) == b""
        assert http_get(port, "/livez")[0] == 200  # and it still answers


async def _probe(scope: dict[str, object], receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


@pytest.fixture
def capped() -> Iterator[int]:
    """An HTTP port holding at most two connections, served by a loop in a thread."""
    loop = asyncio.new_event_loop()
    server = HttpServer(
        _probe, host="127.0.0.1", port=0, head_timeout=30, max_connections=2, grace_seconds=1
    )
    port = server.bind()
    started = threading.Event()

    async def run() -> None:
        await server.start()
        started.set()
        while not stopping.is_set():
            await asyncio.sleep(0.01)
        await server.stop()

    stopping = threading.Event()
    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield port
    finally:
        stopping.set()
        thread.join(10)
        loop.close()


def test_an_http_port_closes_connections_past_its_cap_at_once(capped: int) -> None:
    held = [socket.create_connection(("127.0.0.1", capped), timeout=10) for _ in range(2)]
    try:
        assert _closed_by_server(capped, limit=5)  # the third: closed without a request
    finally:
        for sock in held:
            sock.close()
    assert http_get(capped, "/")[0] == 200  # room again once they went
