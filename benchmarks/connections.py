"""Idle and trickling HTTP connections must not starve the gRPC port of file descriptors.

    python -m benchmarks.connections [--idle 1000] [--trickling 100] [--fd-limit 1024]

Starts ``drucker serve`` with at most ``--fd-limit`` file descriptors, opens ``--idle``
connections that send nothing and ``--trickling`` ones that send a request head a byte a
second to each HTTP port (V2 REST and metrics), and meanwhile opens a new gRPC connection for
each of 20 health checks. Prints one JSON object: how many of those checks succeeded and their
p99, how many HTTP connections the server had closed within ``--hold`` seconds per port, and
the server's open descriptors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.run import free_port

PLUGIN = str(Path(__file__).parent / "plugins" / "sleepy.py")


def _serve(work: Path, fd_limit: int) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {"grpc": free_port(), "http": free_port(), "metrics": free_port()}
    (work / "sleepy.model").write_text("sleepy\n")
    command = [
        *(sys.executable, "-m", "drucker", "serve", "-p", "no:jsonlog", "-p", PLUGIN),
        *("-m", str(work / "sleepy.model"), "--port", str(ports["grpc"])),
        *("--http-port", str(ports["http"]), "--metrics-port", str(ports["metrics"])),
    ]
    env = {**os.environ, "DRUCKER_HTTP_READ_TIMEOUT_SECONDS": "5"}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    process = subprocess.Popen(command, cwd=work, env=env, preexec_fn=limit)
    _check(ports["grpc"], timeout=60)
    return process, ports


def _check(port: int, timeout: float = 5) -> float:
    """One health check on a new connection; its seconds (raises when it fails)."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while True:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                stub.Check(health_pb2.HealthCheckRequest(), timeout=max(0.1, timeout / 2))
            return time.perf_counter() - started
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _open(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def _closed(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the server has closed (or reset)."""
    closed = 0
    for sock in sockets:
        try:
            closed += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def measure(args: argparse.Namespace, work: Path) -> dict[str, object]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    process, ports = _serve(work, args.fd_limit)
    try:
        idle = {name: _open(ports[name], args.idle) for name in ("http", "metrics")}
        trickling = {name: _open(ports[name], args.trickling) for name in ("http", "metrics")}
        checks: list[float] = []
        failed = 0
        started = time.monotonic()
        for second in range(int(args.hold)):
            for socks in trickling.values():
                for sock in socks:
                    with contextlib.suppress(OSError):  # closed by the server
                        sock.send(b"GET /metrics HTTP/1.1\r\n"[second % 23 : second % 23 + 1])
            if second < 20:
                try:
                    checks.append(_check(ports["grpc"], timeout=5))
                except grpc.RpcError:
                    failed += 1
            time.sleep(max(0.0, started + second + 1 - time.monotonic()))
        open_fds = len(os.listdir(f"/proc/{process.pid}/fd"))
        result: dict[str, object] = {
            "fd_limit": args.fd_limit,
            "idle_per_port": args.idle,
            "trickling_per_port": args.trickling,
            "held_s": args.hold,
            "grpc_checks_ok": len(checks),
            "grpc_checks_failed": failed,
            "grpc_check_p99_ms": round(1000 * sorted(checks)[-1], 1) if checks else None,
            "server_open_fds": open_fds,
        }
        for name in ("http", "metrics"):
            result[f"{name}_idle_closed"] = _closed(idle[name])
            result[f"{name}_trickling_closed"] = _closed(trickling[name])
        for socks in (*idle.values(), *trickling.values()):
            for sock in socks:
                sock.close()
        return result
    finally:
        process.terminate()
        process.wait(30)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--trickling", type=int, default=100)
    parser.add_argument("--fd-limit", type=int, default=1024)
    parser.add_argument("--hold", type=float, default=12.0, help="seconds the clients stay")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drucker-connections-") as work:
        result = measure(args, Path(work))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
