"""What traffic between versions costs the caller: a 90/10 split and a shadow, side by side
with no policy, on one server, in turns.

    python -m benchmarks.traffic --repetitions 3 --duration 3

One server (the sklearn iris model, ``drucker_sklearn``, in a thread of this process) with two
stored versions of it (the same bytes under two names) is loaded by ``benchmarks.loadgen`` (a
separate process, Drucker ``Predict_ArrFloat_String``) in windows that take turns, after a
warm-up window, each repetition starting with the next configuration: no policy and a 90/10
split at 1 and 32 concurrent requests, a shadow of fraction 0.1 and 1.0 at 32. Per
configuration it prints the best window's req/s (the least disturbed, as ``timeit`` takes the
minimum), the median p99, the least event-loop CPU time per request (steadier than req/s on
a shared machine), the median number of plugin batch calls per request (the batches' size,
shadow calls included), and for the shadows the requests the lane dropped; then the ratios
the issue asks for (split >= 0.97x req/s; shadow 0.1 >= 0.9x req/s and p99 <= 1.2x; shadow
1.0 p99 <= 1.5x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.model import train
from benchmarks.run import free_port
from drucker.client import Client
from drucker.server.lifecycle import build_runtime, serve
from drucker.settings import load_settings

TOKEN = "bench-traffic"
WARMUP = 0.5  # seconds of each window before it measures
Policy = Callable[[Client], Any]
CONFIGS: dict[str, tuple[Policy, tuple[int, ...]]] = {
    "none": (lambda c: c.clear_traffic(), (1, 32)),
    "split 90/10": (lambda c: c.set_split({"v1.joblib": 90, "v2.joblib": 10}), (1, 32)),
    "shadow 0.1": (lambda c: c.set_shadow("v2.joblib", 0.1), (32,)),
    "shadow 1.0": (lambda c: c.set_shadow("v2.joblib", 1.0), (32,)),
}


class _Server:
    """``serve`` in a thread with its own loop."""

    def __init__(self, model: Path, workdir: Path, batching: bool = True) -> None:
        settings = load_settings(
            None,
            environ={},
            overrides={
                "host": "127.0.0.1",
                "port": free_port(),
                "model_dir": str(workdir / "model"),
                "eval_dir": str(workdir / "eval"),
                "log_predictions": False,
                "batching": batching,
                "metrics_port": 0,
                "http_port": 0,  # no V2 REST: port 8080 may be another server's
                "management_token": TOKEN,
            },
        )
        self.port = settings.port
        self._runtime = build_runtime("drucker_sklearn", settings, disabled=("jsonlog",))
        self.batch_calls = 0  # the plugin's batch hook calls (every version's)
        hook = self._runtime._batch_hook

        def counted(*args: Any) -> Any:
            self.batch_calls += 1
            return hook(*args)

        self._runtime._batch_hook = counted
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._model = model
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
            )
        )

    def loop_cpu_seconds(self) -> float:
        """The CPU time of the server's event-loop thread so far (routing, shadow tasks and
        the quick model's predictions run there)."""

        async def sample() -> float:
            return time.thread_time()

        return asyncio.run_coroutine_threadsafe(sample(), self._loop).result(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def _window(port: int, concurrency: int, duration: float) -> dict[str, Any]:
    command = [
        *(sys.executable, "-m", "benchmarks.loadgen", "--target", f"127.0.0.1:{port}"),
        *("--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(WARMUP)),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--no-batching", action="store_true", help="batching.enabled: false (each request alone)"
    )
    args = parser.parse_args()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="drucker-bench-traffic-") as temp:
        workdir = Path(temp)
        first = train(workdir / "v1.joblib")
        second = shutil.copy(first, workdir / "v2.joblib")
        server = _Server(first, workdir, batching=not args.no_batching)
        try:
            with Client(f"127.0.0.1:{server.port}", token=TOKEN, timeout=60) as client:
                client.upload_model(second, "v2.joblib")
                _window(server.port, 32, args.duration)  # warm-up: placement measured, caches
                names = list(CONFIGS)
                for repetition in range(args.repetitions):
                    turn = repetition % len(names)  # each configuration goes first in turn
                    for name in names[turn:] + names[:turn]:
                        policy, levels = CONFIGS[name]
                        client.clear_traffic()
                        policy(client)
                        for level in levels:
                            before = client.traffic().shadow.dropped
                            cpu = server.loop_cpu_seconds()
                            calls = server.batch_calls
                            run = _window(server.port, level, args.duration)
                            cpu = server.loop_cpu_seconds() - cpu
                            run["us"] = 1e6 * cpu / max(run["requests"], 1)
                            # calls over the warm-up too: requests as if it served at that rate
                            served = run["requests"] * (args.duration + WARMUP) / args.duration
                            run["calls"] = (server.batch_calls - calls) / max(served, 1)
                            run["dropped"] = client.traffic().shadow.dropped - before
                            runs.setdefault((name, level), []).append(run)
                client.clear_traffic()
        finally:
            server.stop()
    best = {key: max(r["rps"] for r in values) for key, values in runs.items()}
    p99 = {key: statistics.median(r["p99_ms"] for r in values) for key, values in runs.items()}
    cpu = {key: min(r["us"] for r in values) for key, values in runs.items()}
    calls = {key: statistics.median(r["calls"] for r in values) for key, values in runs.items()}
    print(
        f"{'configuration':<14} {'c':>3} {'req/s (best)':>13} {'p99 ms (median)':>16} "
        f"{'loop us/req (best)':>19} {'calls/req':>9} dropped"
    )
    for (name, level), values in sorted(
        runs.items(), key=lambda item: list(CONFIGS).index(item[0][0])
    ):
        dropped = sum(r["dropped"] for r in values)
        requests = sum(r["requests"] for r in values)
        print(
            f"{name:<14} {level:>3} {best[name, level]:>13.0f} {p99[name, level]:>16.2f} "
            f"{cpu[name, level]:>19.1f} {calls[name, level]:>9.3f} {dropped} of {requests}"
        )
    for level in (1, 32):
        ratio = best["split 90/10", level] / best["none", level]
        extra = cpu["split 90/10", level] - cpu["none", level]
        print(
            f"split 90/10 / none at c={level}: req/s {ratio:.3f}x (target >= 0.97); "
            f"loop CPU {extra:+.1f} us per request"
        )
    for name, rps_target, p99_target in (("shadow 0.1", 0.9, 1.2), ("shadow 1.0", None, 1.5)):
        rps = best[name, 32] / best["none", 32]
        latency = p99[name, 32] / p99["none", 32]
        wanted = f"req/s >= {rps_target}, " if rps_target else ""
        print(
            f"{name} / none at c=32: req/s {rps:.3f}x, p99 {latency:.3f}x "
            f"(target {wanted}p99 <= {p99_target})"
        )


if __name__ == "__main__":
    main()
