"""Run real drucker servers for tests: in a background thread, or as a `drucker serve` process."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from drucker_jsonlog import JsonLinesLog

from drucker.server.lifecycle import build_runtime, serve
from drucker.settings import load_settings
from tests.plugins.slow_loader import SlowLoader


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """A real gRPC server on a loopback port, run by an event loop in a background thread."""

    def __init__(
        self,
        plugin: str | object,
        model_file: str | None,
        settings: Mapping[str, Any] | None = None,
        port: int = 0,
        workdir: Path | None = None,
        http: bool = False,
        models: Mapping[str, str] | None = None,
    ) -> None:
        self.requested_port = port
        self._models = dict(models or {})  # --model NAME=FILE
        self._http = http
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="drucker-test-"))
        overrides = {
            "host": "127.0.0.1",
            "port": port,
            "model_dir": str(self.workdir / "model"),
            "eval_dir": str(self.workdir / "eval"),
            "metrics_port": 0,  # off unless a test asks: parallel servers would share 8082
            "http_port": 0,  # V2 REST off unless ``http``: parallel servers would share 8080
            **(settings or {}),
        }
        self.settings = load_settings(None, environ={}, overrides=overrides)
        self.log = io.StringIO()
        self.runtime = build_runtime(
            plugin,
            self.settings,
            extra_plugins=(JsonLinesLog(self.log),),
            disabled=("jsonlog",),
        )
        self._model_file = model_file
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0
        self.http_port = 0  # the V2 REST port, with ``http=True``
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        def http_ready(port: int) -> None:
            self.http_port = port

        await serve(
            self.runtime,
            model_file=self._model_file,
            stop=self._stop,
            on_ready=ready,
            http_port=0 if self._http else None,
            on_http_ready=http_ready,
            models=self._models,
        )

    def start(self, timeout: float = 30, wait: bool = True) -> ThreadedServer:
        """Start; unless ``wait`` is false, wait until the model is loaded and serving."""
        self._thread.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> ThreadedServer:
        """Wait until the server serves; raise its start-up error if it failed."""
        if not self._ready.wait(timeout):
            raise TimeoutError("server did not start")
        if self._error is not None:
            raise self._error
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """The V2 REST base URL (``http=True``)."""
        return f"http://127.0.0.1:{self.http_port}"

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.target)

    def stop(self) -> None:
        """Stop gracefully and wait for the thread."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def echo_server_in(workdir: Path, settings: Mapping[str, Any]) -> ThreadedServer:
    """A server (not yet started) of the echo test plugin in ``workdir``, on a model file
    ``echo.model`` there that holds "echo-a"."""
    from tests.conftest import ECHO_PLUGIN

    model = workdir / "echo.model"
    model.write_text("echo-a\n")
    return ThreadedServer(ECHO_PLUGIN, str(model), settings, workdir=workdir)


@contextmanager
def loading(model: Path) -> Iterator[tuple[ThreadedServer, SlowLoader, grpc.Channel]]:
    """A started server whose `SlowLoader` holds back loading ``model``, and a channel that is
    connected to it; on leaving, the load is released and the server stopped."""
    plugin = SlowLoader()
    server = ThreadedServer(plugin, str(model), port=free_port())
    server.start(wait=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.requested_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield server, plugin, channel
    finally:
        plugin.release.set()
        server.stop()


def sklearn_http_server(model: Path, workdir: Path, settings: Mapping[str, Any]) -> ThreadedServer:
    """A server (not yet started) of the scikit-learn plugin on ``model``, V2 REST on."""
    return ThreadedServer("drucker_sklearn", str(model), settings, workdir=workdir, http=True)


def echo_serve_args(model: Path, port: int, *more: str) -> list[str]:
    """`drucker serve` arguments for the echo test plugin on ``model`` at ``port``."""
    from tests.conftest import ECHO_PLUGIN

    return ["--plugin", ECHO_PLUGIN, "--model", str(model), "--port", str(port), *more]


class ServeProcess:
    """`drucker serve` in a child process, with its standard error captured to a file."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str] | None = None):
        self.stderr_path = cwd / f"serve-{time.monotonic_ns()}.log"
        # Metrics and V2 REST off unless a test asks: parallel servers would share 8082 and 8080.
        full_env = {
            **os.environ,
            "DRUCKER_METRICS_PORT": "0",
            "DRUCKER_HTTP_PORT": "0",
            **(env or {}),
        }
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "drucker", "serve", *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_serving(self, port: int, timeout: float = 30) -> None:
        """Wait until the standard health service says SERVING."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{self.stderr}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise TimeoutError(f"server not serving after {timeout} s:\n{self.stderr}")

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send a signal and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self._stderr.close()

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._stderr.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._stderr.close()
