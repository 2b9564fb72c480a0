"""Several server processes sharing one port (``app.workers``), so CPU-bound models use every core.

The supervisor reserves the port with ``SO_REUSEPORT``, starts ``drucker serve --worker``
children that bind it too (the kernel spreads connections across them), forwards SIGTERM and
SIGINT, restarts a child that dies, and exits 0 once every child has drained. A child that
exits with code 2 could not start (bad model, bad plugin): the supervisor then stops them all.
A child still starting when the signal comes ends by it (its handlers are set before it serves,
so it held no request): that is a clean stop too, so a ``docker stop`` during start-up exits 0.
Model switches reach every worker: each follows the model store's active model. Workers end
with the supervisor, also when it is killed (see :mod:`drucker.server.parent`).

The metrics port is shared the same way. The workers record their metrics in files of a private
temporary directory (``PROMETHEUS_MULTIPROC_DIR``, set before they start), so a scrape answered
by any worker shows the sum over all; the directory is removed when the supervisor exits, and a
replaced worker's live gauges are dropped.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

from drucker.errors import ConfigurationError
from drucker.events import EventLog
from drucker.observability.metrics import MULTIPROCESS_ENV, mark_worker_exited
from drucker.protocol.auth import resolve_token
from drucker.server.parent import supervisor_environment
from drucker.settings import Settings

START_FAILURE = 2
RESTART_DELAY_SECONDS = 1.0


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket that keeps the port for the workers."""
    bind_host = host.strip("[]") or "::"
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((bind_host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, settings: Settings, log: EventLog, worker_args: list[str]) -> None:
        self._settings = settings
        self._log = log
        self._worker_args = worker_args
        self._children: list[subprocess.Popen[bytes] | None] = []
        self._stopping = False
        self._forwarded: int | None = None  # the signal sent to the children to stop them
        self._metrics_dir: str | None = None

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "drucker", "serve", "--worker", "--port", str(port)]
        env = supervisor_environment()
        if self._metrics_dir is not None:
            env[MULTIPROCESS_ENV] = self._metrics_dir
        return subprocess.Popen([*command, *self._worker_args], env=env)

    def _exited(self, child: subprocess.Popen[bytes]) -> None:
        if self._metrics_dir is not None:
            mark_worker_exited(self._metrics_dir, child.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        self._forwarded = signum
        for child in self._children:
            if child is not None and child.poll() is None:
                child.send_signal(signum)

    def _stopped_cleanly(self, code: int) -> bool:
        """Whether a child's exit code, once stopping, is a clean stop: it drained (0), or it
        was still starting and the forwarded signal ended it before it could serve."""
        return code == 0 or (self._forwarded is not None and code == -self._forwarded)

    def run(self) -> int:
        """Serve until a signal; return the exit code."""
        settings = self._settings
        reserved = reserve_port(settings.host, settings.port)
        port = reserved.getsockname()[1]
        metrics_reserved = None
        if settings.metrics_port:
            try:
                metrics_reserved = reserve_port(settings.host, settings.metrics_port)
            except ConfigurationError as error:
                reserved.close()
                raise ConfigurationError(f"metrics port: {error}") from None
        try:
            resolve_token(settings, self._log)  # written once, before the workers read it
            if metrics_reserved is not None:
                self._metrics_dir = tempfile.mkdtemp(prefix="drucker-metrics-")
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
            self._children = [self._spawn(port) for _ in range(settings.workers)]
            self._log.info(
                f"supervising {settings.workers} worker processes on port {port}",
                port=port,
                metrics_port=settings.metrics_port or None,
                workers=[child.pid for child in self._children if child],
            )
            return self._watch(port)
        finally:
            reserved.close()
            if metrics_reserved is not None:
                metrics_reserved.close()
            if self._metrics_dir is not None:
                shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _watch(self, port: int) -> int:
        start_failed = unclean = False
        while any(child is not None for child in self._children):
            for index, child in enumerate(self._children):
                code = None if child is None else child.poll()
                if child is None or code is None:
                    continue
                self._exited(child)
                if self._stopping:
                    unclean |= not self._stopped_cleanly(code)
                    self._children[index] = None
                elif code == START_FAILURE:
                    self._log.error(f"worker {child.pid} could not start; stopping all workers")
                    start_failed = True
                    self._children[index] = None
                    self._on_signal(signal.SIGTERM, None)
                else:
                    self._log.error(f"worker {child.pid} exited with {code}; restarting it")
                    time.sleep(RESTART_DELAY_SECONDS)
                    self._children[index] = self._spawn(port)
            time.sleep(0.1)
        if start_failed:
            return START_FAILURE
        return 1 if unclean else 0
