"""Overload: what a server does for callers with deadlines when far more come than it serves.

    python -m benchmarks.overload [--clients 400] [--duration 30] [--deadline 2]

With a 20 ms model (``benchmarks/plugins/sleepy.py``, GIL released), it measures the rate R
that 8 closed-loop clients get, then ``--clients`` closed-loop clients with ``--deadline``
second deadlines for ``--duration`` seconds, and prints one JSON object:

- ``good_per_s``: answers within the deadline per second (target: at least 0.9 R);
- ``wasted_share``: the share of predictions whose answer reached no caller in time (target:
  at most 2 %), from the plugin's own count of calls;
- ``refused_p99_ms`` and ``refused_with_pushback``: how fast ``RESOURCE_EXHAUSTED`` came, and
  whether each carried ``grpc-retry-pushback-ms``;
- ``health_p99_ms`` during the overload; ``rss_growth_mib``; ``recovered_per_s``: 8 clients'
  rate in the first second after the load stops;
- with ``--sdk``, the same load through the SDK's async client (retries honour the pushback):
  ``sdk_good_per_s`` and ``sdk_failed_share``, the deadline being each call's (its attempts
  share it, gRPC's semantics); with ``--sdk-call-deadline T`` also ``sdk_attempts_…``: each
  attempt with a deadline of ``--deadline`` of its own (``attempt_timeout``), the call with T.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from benchmarks.loadgen import probe_health
from benchmarks.reliability import _serve, _status
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.client.aio import AsyncClient
from drucker.client.errors import ClientError

PLUGIN = str(Path(__file__).parent / "plugins" / "sleepy.py")


class Tally:
    """What the clients saw."""

    def __init__(self) -> None:
        self.good = 0
        self.late = 0
        self.refused: list[float] = []
        self.pushback = 0
        self.failed = 0
        self.after = 0  # answers that came after the window (not in the rates)
        self.codes: dict[str, int] = {}


async def _client(stub: Any, deadline: float, stop_at: float, tally: Tally) -> None:
    request = drucker_pb2.StringInput(input="x")
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            await stub.Predict_String_String(request, timeout=deadline)
            tally.good += 1
            tally.after += time.perf_counter() > stop_at
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                tally.refused.append(time.perf_counter() - started)
                trailers = dict(error.trailing_metadata() or ())
                tally.pushback += "grpc-retry-pushback-ms" in trailers
                await asyncio.sleep(float(trailers.get("grpc-retry-pushback-ms", 100)) / 1000)
            elif error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                tally.late += 1
            else:
                tally.failed += 1


async def _sdk_client(client: AsyncClient, deadline: float, stop_at: float, tally: Tally) -> None:
    while time.perf_counter() < stop_at:
        try:
            await client.predict("x", output="String", timeout=deadline)
            tally.good += 1
            tally.after += time.perf_counter() > stop_at
        except ClientError as error:
            tally.failed += 1
            name = error.code.name if error.code else "NONE"
            tally.codes[name] = tally.codes.get(name, 0) + 1


async def _load(target: str, clients: int, seconds: float, deadline: float) -> Tally:
    tally = Tally()
    channels = [grpc.aio.insecure_channel(target) for _ in range(8)]
    stop_at = time.perf_counter() + seconds
    try:
        stubs = [drucker_pb2_grpc.DruckerWorkerStub(channel) for channel in channels]
        await asyncio.gather(
            *(_client(stubs[n % 8], deadline, stop_at, tally) for n in range(clients))
        )
    finally:
        for channel in channels:
            await channel.close()
    return tally


async def _sdk_load(
    target: str, clients: int, seconds: float, deadline: float, attempt: float | None = None
) -> Tally:
    """``clients`` SDK callers with ``deadline`` for each call (all its attempts), or with
    ``attempt`` seconds for each attempt (``attempt_timeout``) within that deadline."""
    tally = Tally()
    stop_at = time.perf_counter() + seconds
    async with AsyncClient(
        target, max_attempts=5, timeout=deadline, attempt_timeout=attempt
    ) as client:
        await asyncio.gather(
            *(_sdk_client(client, deadline, stop_at, tally) for _ in range(clients))
        )
    return tally


def probe_refusals(target: str, seconds: float) -> dict[str, Any]:
    """For one light caller (a call every 20 ms): the seconds each ``RESOURCE_EXHAUSTED``
    took (``refused``), and how many of its calls were answered (``answered``: predictions
    whose answer reached a caller in time, for the wasted share)."""
    latencies = []
    answered = 0
    with grpc.insecure_channel(target) as channel:
        stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                stub.Predict_String_String(drucker_pb2.StringInput(input="p"), timeout=2)
                answered += 1
            except grpc.RpcError as error:
                if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
    return {"refused": latencies, "answered": answered}


def _probe_process(target: str, seconds: float) -> subprocess.Popen[str]:
    """:func:`probe_refusals` in a process of its own, apart from the load generator's."""
    code = (
        "import json, sys; from benchmarks.overload import probe_refusals; "
        f"json.dump(probe_refusals({target!r}, {seconds}), sys.stdout)"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _counts(metrics_port: int) -> dict[str, float]:
    """The server's refusals and drops by reason so far (``refused_…``, ``dropped_…``)."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for kind in ("refused", "dropped"):
            if line.startswith(f"drucker_{kind}_requests_total{{") and 'reason="' in line:
                reason = line.split('reason="', 1)[1].split('"', 1)[0]
                key = f"{kind}_{reason}"
                counts[key] = counts.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def _since(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    return {key: int(value - before.get(key, 0.0)) for key, value in after.items()}


def _p99_ms(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2)


def _calls(path: Path) -> int:
    time.sleep(0.3)  # the plugin writes its count every 0.1 s
    for _ in range(50):  # the plugin truncates before it writes: read again when empty
        text = path.read_text() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.01)
    return 0


def _sdk_result(
    prefix: str, sdk: Tally, calls: int, duration: float, rate: float
) -> dict[str, Any]:
    """The figures of one SDK load, keys starting with ``prefix``."""
    finished = sdk.good + sdk.failed
    good = (sdk.good - sdk.after) / duration
    return {
        f"{prefix}_good_per_s": round(good, 1),
        f"{prefix}_good_over_R": round(good / rate, 3) if rate else None,
        f"{prefix}_calls": finished,
        f"{prefix}_failed_share": round(sdk.failed / finished, 4) if finished else 0.0,
        f"{prefix}_failures": sdk.codes,
        f"{prefix}_predictions": calls,
        f"{prefix}_wasted_share": round(max(0, calls - sdk.good) / calls, 4) if calls else 0.0,
    }


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    calls_file = work / "calls"
    os.environ["DRUCKER_BENCH_CALLS_FILE"] = str(calls_file)
    (work / "sleepy.model").write_text("sleepy\n")
    process, port = _serve(["-p", PLUGIN, "-m", str(work / "sleepy.model")], work)
    target = f"127.0.0.1:{port}"
    metrics_port = int(process.args[process.args.index("--metrics-port") + 1])
    try:
        base = await _load(target, 8, args.baseline, 10)
        rate = base.good / args.baseline
        rss_before = _status(process.pid, "VmRSS")
        calls_before = _calls(calls_file)
        counts_before = _counts(metrics_port)
        now = time.perf_counter()
        health = asyncio.ensure_future(probe_health(target, now, now + args.duration))
        probe = _probe_process(target, args.duration - 1)
        over = await _load(target, args.clients, args.duration, args.deadline)
        health_latencies = await health
        probed = json.loads(probe.communicate(timeout=60)[0] or "{}")
        calls = _calls(calls_file) - calls_before
        counts_over = _counts(metrics_port)
        answered = over.good + probed.get("answered", 0)  # the probe's answers reached it too
        rss_after = _status(process.pid, "VmRSS")
        recovered = await _load(target, 8, 1.0, 10)
        result: dict[str, Any] = {
            "clients": args.clients,
            "duration_s": args.duration,
            "deadline_s": args.deadline,
            "R_per_s": round(rate, 1),
            "good_per_s": round((over.good - over.after) / args.duration, 1),
            "good_over_R": (
                round((over.good - over.after) / args.duration / rate, 3) if rate else None
            ),
            "deadline_exceeded": over.late,
            "refused": len(over.refused),
            "refused_p99_ms": _p99_ms(over.refused),
            "refused_with_pushback": over.pushback,
            "refused_probe_p99_ms": _p99_ms(probed.get("refused", [])),
            "refused_probe_count": len(probed.get("refused", [])),
            "probe_answered": probed.get("answered", 0),
            "other_failures": over.failed,
            "predictions": calls,
            "wasted_share": round(max(0, calls - answered) / calls, 4) if calls else 0.0,
            "health_p99_ms": _p99_ms(health_latencies),
            "rss_growth_mib": round((rss_after - rss_before) / 2**20, 1),
            "recovered_per_s": recovered.good,
            "recovered_refused": len(recovered.refused),
            "server_counts": _since(counts_over, counts_before),
        }
        if args.sdk:
            runs = {"sdk": (args.deadline, None)}  # the call's deadline spans its attempts
            if args.sdk_call_deadline:  # and a deadline of their own per attempt
                runs["sdk_attempts"] = (args.sdk_call_deadline, args.deadline)
            for prefix, (deadline, attempt) in runs.items():
                calls_before, counts_before = _calls(calls_file), _counts(metrics_port)
                sdk = await _sdk_load(target, args.clients, args.duration, deadline, attempt)
                calls = _calls(calls_file) - calls_before
                result.update(_sdk_result(prefix, sdk, calls, args.duration, rate))
                result[f"{prefix}_server_counts"] = _since(_counts(metrics_port), counts_before)
        return result
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=400)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=2.0)
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds measuring R")
    parser.add_argument("--sdk", action="store_true", help="also the SDK's retries")
    parser.add_argument(
        "--sdk-call-deadline",
        type=float,
        default=0.0,
        help="with --sdk, also SDK calls whose attempts have --deadline each within this",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drucker-overload-") as work:
        result = asyncio.run(measure(args, Path(work)))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
