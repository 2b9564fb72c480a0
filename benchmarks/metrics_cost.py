"""What metrics cost per request: event-loop CPU time with metrics on and off, alternating.

    python -m benchmarks.metrics_cost --repetitions 8 --duration 1.5

req/s on a shared machine moves by more than the few percent in question, so this runs the
same server with ``metrics.port`` on and 0 side by side in one process, loads them in turns
with the same closed-loop load (``benchmarks.loadgen``, concurrency 32), and reports for each
the best window (the least disturbed by other work, as ``timeit`` takes the minimum): the
highest req/s and the lowest CPU time of the server's event-loop thread per request
(``time.thread_time``; the rpc guard and every metric update run there). Medians follow.

First it times the rpc guard's path for one prediction rpc with its recorder (counts and
histogram), without the network: the best of 7 runs of 20,000 calls, against the same guard
without a recorder. That figure hardly moves with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from benchmarks.model import train
from benchmarks.run import free_port
from drucker.observability import Metrics
from drucker.observability.grpc_metrics import recorders
from drucker.protocol.guard import Guard
from drucker.server.grpc_server import PREDICTION_RPCS
from drucker.server.lifecycle import build_runtime, serve
from drucker.settings import load_settings


class _Server:
    """``serve`` in a thread with its own loop, and that loop thread's CPU time."""

    def __init__(self, model: Path, workdir: Path, metrics: bool, batching: bool) -> None:
        settings = load_settings(
            None,
            environ={},
            overrides={
                "host": "127.0.0.1",
                "port": free_port(),
                "model_dir": str(workdir / "model"),
                "eval_dir": str(workdir / "eval"),
                "predict_threads": 0,
                "log_predictions": False,
                "batching": batching,
                "metrics_port": free_port() if metrics else 0,
            },
        )
        self.port = settings.port
        self._runtime = build_runtime("drucker_sklearn", settings, disabled=("jsonlog",))
        self._model = model
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the server did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(
            serve(
                self._runtime,
                model_file=str(self._model),
                stop=self._stop,
                on_ready=lambda port: self._ready.set(),
                http_port=0,  # V2 REST on any free port: two servers run at once
            )
        )

    def loop_cpu_seconds(self) -> float:
        async def sample() -> float:
            return time.thread_time()

        return asyncio.run_coroutine_threadsafe(sample(), self._loop).result(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


class _Context:
    """What the guard reads of an rpc: at the end, its status."""

    def code(self) -> None:
        return None


async def _guard_path(calls: int = 20_000, runs: int = 7) -> tuple[float, float]:
    """Best microseconds per rpc through the rpc guard: without a recorder, and with one."""

    async def behaviour(request: Any, context: Any) -> Any:
        return request

    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    method = "/drucker.DruckerWorker/Predict_ArrFloat_String"
    unrecorded = Guard().wrap(method, handler)
    recorded = Guard(recorder_for=recorders(Metrics(), PREDICTION_RPCS)).wrap(method, handler)
    context = _Context()

    async def plain() -> None:
        await unrecorded.unary_unary(None, context)

    async def observed() -> None:
        await recorded.unary_unary(None, context)

    best = {plain: float("inf"), observed: float("inf")}
    for _ in range(runs):
        for path in best:
            started = time.perf_counter()
            for _ in range(calls):
                await path()
            best[path] = min(best[path], (time.perf_counter() - started) / calls)
    return best[plain] * 1e6, best[observed] * 1e6


def _window(server: _Server, args: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        "--target",
        f"127.0.0.1:{server.port}",
        "--concurrency",
        str(args.concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        "0",
    ]
    before = server.loop_cpu_seconds()
    run: dict[str, Any] = json.loads(
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
    )
    cpu = server.loop_cpu_seconds() - before
    return {"rps": run["rps"], "us_per_request": 1e6 * cpu / max(run["requests"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument("--repetitions", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    plain, observed = asyncio.run(_guard_path())
    print(
        f"rpc guard per prediction rpc: {observed:.2f} us with metrics, {plain:.2f} us "
        f"without (+{observed - plain:.2f} us)"
    )
    with tempfile.TemporaryDirectory(prefix="drucker-bench-") as temp:
        workdir = Path(temp)
        model = train(workdir / "model.joblib")
        for batching in (True, False):
            servers = {on: _Server(model, workdir / str(on), on, batching) for on in (False, True)}
            runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
            try:
                for _ in range(args.repetitions):
                    for on, server in servers.items():
                        runs[on].append(_window(server, args))
            finally:
                for server in servers.values():
                    server.stop()
            mode = "batching on " if batching else "batching off"
            for label, pick in (("best", (max, min)), ("median", (statistics.median,) * 2)):
                rps = {on: pick[0](r["rps"] for r in runs[on]) for on in runs}
                cost = {on: pick[1](r["us_per_request"] for r in runs[on]) for on in runs}
                print(
                    f"{mode} {label:<6}: req/s off {rps[False]:.0f}, on {rps[True]:.0f} "
                    f"(on/off {rps[True] / rps[False]:.3f}); loop CPU per request off "
                    f"{cost[False]:.1f} us, on {cost[True]:.1f} us "
                    f"({cost[True] - cost[False]:+.1f} us, {cost[True] / cost[False] - 1:+.1%})"
                )


if __name__ == "__main__":
    main()
