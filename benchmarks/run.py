"""Run the side-by-side comparison and print the table.

python -m benchmarks                      # every target, 15 s windows, 3 rounds
python -m benchmarks --targets floor,drucker-tuned --duration 5 --repetitions 1
python -m benchmarks --targets drucker-tuned-1p,drucker-tuned-1p-nometrics --interleave
python -m benchmarks --targets floor,drucker-plain --baseline ../old-checkout --interleave

The repetitions are interleaved rounds: each round starts every target in turn, measures its
concurrency levels once and stops it, so a busy spell of the machine touches all targets alike.
With ``--interleave`` every target runs at once instead and their windows take turns.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import grpc

from benchmarks.model import train
from benchmarks.procstat import cpu_seconds, peak_rss_mib
from benchmarks.ratios import lines as target_lines
from benchmarks.targets import TARGETS, Target, start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_prediction(target: Target, port: int, deadline: float) -> bool:
    """Poll until one real prediction succeeds (cold start ends there)."""
    from drucker._wire import drucker_pb2, drucker_pb2_grpc
    from drucker._wire import grpc_predict_v2_pb2 as v2
    from drucker._wire import grpc_predict_v2_pb2_grpc as v2_grpc

    if target.protocol == "rest":
        return _first_rest_prediction(target, port, deadline)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        while time.monotonic() < deadline:
            try:
                if target.protocol == "drucker":
                    drucker_pb2_grpc.DruckerWorkerStub(channel).Predict_ArrFloat_String(
                        drucker_pb2.ArrFloatInput(input=[0.0] * 20), timeout=1
                    )
                else:
                    request = v2.ModelInferRequest(model_name="bench")
                    tensor = request.inputs.add(name="input-0", datatype="FP32", shape=[1, 20])
                    tensor.contents.fp32_contents.extend([0.0] * 20)
                    v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=1)
                return True
            except grpc.RpcError:
                time.sleep(0.02)
    return False


JSON_HEADERS = {"Content-Type": "application/json"}


def _first_rest_prediction(target: Target, port: int, deadline: float) -> bool:
    import urllib.error
    import urllib.request

    import numpy as np

    from benchmarks.loadgen import rest_body

    outputs = target.v2_outputs.split(",") if target.v2_outputs else []
    body = rest_body(np.zeros(20, dtype=np.float32), outputs)
    url = f"http://127.0.0.1:{port}/v2/models/bench/infer"
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, data=body, headers=JSON_HEADERS)
            with urllib.request.urlopen(request, timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.02)
    return False


def _load(target: Target, port: int, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        "--target",
        f"127.0.0.1:{port}",
        "--protocol",
        target.protocol,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--outputs",
        target.v2_outputs,
        "--rows",
        str(target.rows),
        "--processes",
        str(target.loadgen_processes),
        *(["--health-probe"] if target.health_probe else []),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(output))


def _launch(
    target: Target, model: Path, workdir: Path
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start the server and wait for its first prediction: (process, port, cold start s)."""
    target.prepare()
    port = free_port()
    launched = time.monotonic()
    server = start(target, model, port, workdir)
    if not _first_prediction(target, port, launched + 120):
        _stop(server)
        log = (workdir / f"{target.name}.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{target.name} did not answer:\n{log}")
    return server, port, time.monotonic() - launched


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()


def _window(
    target: Target,
    server: subprocess.Popen[bytes],
    port: int,
    concurrency: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One load window, with the server's CPU per 1,000 requests."""
    cpu_before = cpu_seconds(server.pid)
    run = _load(target, port, concurrency, args)
    cpu = cpu_seconds(server.pid) - cpu_before
    # The window includes the warm-up: charge CPU to all requests sent in it.
    sent = run["requests"] * (args.duration + args.warmup) / args.duration
    run["server_cpu_per_1000"] = 1000 * cpu / max(sent, 1)
    return run


def levels(target: Target, args: argparse.Namespace) -> list[int]:
    """The concurrency levels measured for ``target``."""
    return list(target.concurrency or args.concurrency)


def measure(target: Target, model: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One round: cold start, then each concurrency level once."""
    server, port, cold_start = _launch(target, model, workdir)
    try:
        result: dict[str, Any] = {"cold_start_s": [cold_start], "runs": {}}
        for concurrency in levels(target, args):
            result["runs"][concurrency] = [_window(target, server, port, concurrency, args)]
        result["peak_rss_mib"], result["tree_rss_mib"] = peak_rss_mib(server.pid)
        return result
    finally:
        _stop(server)


def merge(total: dict[str, Any], one: dict[str, Any]) -> dict[str, Any]:
    """``total`` with one more round's result added (runs and cold starts appended)."""
    if "error" in one or "error" in total:
        return total if "error" in total else one
    if not total:
        return one
    for level, runs in one["runs"].items():
        total["runs"].setdefault(level, []).extend(runs)
    total["cold_start_s"] += one["cold_start_s"]
    total["peak_rss_mib"] = max(total["peak_rss_mib"], one["peak_rss_mib"])
    total["tree_rss_mib"] = max(total["tree_rss_mib"], one["tree_rss_mib"])
    return total


def measure_interleaved(
    names: list[str], model: Path, args: argparse.Namespace, workdir: Path
) -> dict[str, dict[str, Any]]:
    """Every target runs at once; each repetition loads them in turn (one at a time).

    On a shared or noisy machine a slow moment then hits every target alike, which matters
    when the targets differ by a few percent (metrics on and off).
    """
    launched: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            server, port, cold_start = _launch(TARGETS[name], model, workdir)
            launched[name] = (server, port)
            results[name] = {"cold_start_s": [cold_start], "runs": {}}
        every_level = sorted({level for name in names for level in levels(TARGETS[name], args)})
        for concurrency in every_level:
            for _ in range(args.repetitions):
                for name, (server, port) in launched.items():
                    if concurrency not in levels(TARGETS[name], args):
                        continue
                    run = _window(TARGETS[name], server, port, concurrency, args)
                    results[name]["runs"].setdefault(concurrency, []).append(run)
        for name, (server, _) in launched.items():
            results[name]["peak_rss_mib"], results[name]["tree_rss_mib"] = peak_rss_mib(server.pid)
        return results
    finally:
        for server, _ in launched.values():
            _stop(server)


def _cell(values: list[float], digits: int = 0) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(results: dict[str, dict[str, Any]]) -> str:
    header = (
        "| target | conc. | req/s | p50 ms | p99 ms | errors | server CPU-s/1k req "
        "| loadgen CPU % | peak RSS MiB (1 proc / all) | cold start s |"
    )
    lines = [header, "|" + "---|" * 10]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | - | failed: {result['error'][:60]} |" + " |" * 7)
            continue
        for level, runs in result["runs"].items():
            lines.append(
                f"| {name} | {level} | {_cell([r['rps'] for r in runs])} "
                f"| {_cell([r['p50_ms'] for r in runs], 2)} "
                f"| {_cell([r['p99_ms'] for r in runs], 2)} "
                f"| {sum(r['errors'] for r in runs)} "
                f"| {_cell([r['server_cpu_per_1000'] for r in runs], 2)} "
                f"| {_cell([100 * r['loadgen_cpu_seconds'] / r['seconds'] for r in runs])} "
                f"| {result['peak_rss_mib']:.0f} / {result['tree_rss_mib']:.0f} "
                f"| {statistics.median(result['cold_start_s']):.2f} |"
            )
    return "\n".join(lines)


def extra_table(results: dict[str, dict[str, Any]]) -> str:
    """Rows/s of multi-row requests and health-check times under load, where measured."""
    lines = [
        "| target | conc. | rows/request | rows/s | health checks | health p50 ms "
        "| health p99 ms | health max ms |",
        "|" + "---|" * 8,
    ]
    for name, result in results.items():
        for level, runs in result.get("runs", {}).items():
            first = runs[0]
            rows = round(first["rows_per_s"] / first["rps"]) if first["rps"] else 1
            if rows <= 1 and "health_p50_ms" not in first:
                continue
            health = (
                f"{sum(r['health_checks'] for r in runs)} "
                f"| {_cell([r['health_p50_ms'] for r in runs], 2)} "
                f"| {_cell([r['health_p99_ms'] for r in runs], 2)} "
                f"| {_cell([r['health_max_ms'] for r in runs], 1)}"
                if "health_p50_ms" in first
                else "- | - | - | -"
            )
            lines.append(
                f"| {name} | {level} | {rows} | {_cell([r['rows_per_s'] for r in runs])} "
                f"| {health} |"
            )
    return "\n".join(lines)


BASELINE_SUFFIX = "@base"


def add_baselines(names: list[str], checkout: Path) -> list[str]:
    """Register ``NAME@base`` for each drucker target in ``names``: the same command, run on
    the code of ``checkout`` (its package and first-party plugins first on ``PYTHONPATH``)."""
    path = f"{checkout}{os.pathsep}{checkout / 'plugins'}"
    added = []
    for name in names:
        if not name.startswith("drucker") or name == "drucker-0.4.5":
            continue
        target = TARGETS[name]
        base = attrs.evolve(
            target, name=name + BASELINE_SUFFIX, env={**target.env, "PYTHONPATH": path}
        )
        TARGETS[base.name] = base  # this run's catalogue: the script's own table, not drucker's
        added.append(base.name)
    return added


def baseline_lines(results: dict[str, Any], levels: list[int]) -> list[str]:
    """req/s and p99 of every target against its ``@base`` twin, per concurrency level."""
    lines = []
    for name, result in results.items():
        base = results.get(name + BASELINE_SUFFIX)
        if name.endswith(BASELINE_SUFFIX) or not base or "runs" not in result:
            continue
        for level in levels:
            new, old = _runs(result, level), _runs(base, level)
            if not new or not old:
                continue
            rps = statistics.median(r["rps"] for r in new) / statistics.median(
                r["rps"] for r in old
            )
            p99 = statistics.median(r["p99_ms"] for r in new) / statistics.median(
                r["p99_ms"] for r in old
            )
            lines.append(f"  {name} c={level}: req/s {rps:.2f} x, p99 {p99:.2f} x the baseline")
    return lines


def _runs(result: dict[str, Any], level: int) -> list[dict[str, Any]]:
    runs = result.get("runs", {})
    return list(runs.get(level) or runs.get(str(level)) or [])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(v) for v in s.split(",")], default=[1, 32]
    )
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also run every drucker target as NAME@base with PYTHONPATH at this checkout of "
        "older code, and print each target's ratios to its baseline",
    )
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="run every target at once and take their windows in turn",
    )
    args = parser.parse_args()
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    if args.baseline:
        names += add_baselines(names, args.baseline.resolve())
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    results: dict[str, dict[str, Any]] = {name: {} for name in names}
    with tempfile.TemporaryDirectory(prefix="drucker-bench-") as temp:
        workdir = Path(temp)
        model = train(workdir / "model.joblib")
        if args.interleave:
            print(f"measuring {', '.join(names)} interleaved ...", file=sys.stderr, flush=True)
            results = measure_interleaved(names, model, args, workdir)
        else:
            for name in names:
                try:
                    TARGETS[name].prepare()
                except Exception as exc:
                    results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            for round_number in range(1, args.repetitions + 1):
                for name in names:
                    if "error" in results[name]:
                        continue
                    print(f"round {round_number}: {name} ...", file=sys.stderr, flush=True)
                    try:
                        one = measure(TARGETS[name], model, args, workdir)
                    except Exception as exc:  # one failing peer should not hide the others
                        one = {"error": f"{type(exc).__name__}: {exc}"}
                        print(f"  {name} failed: {exc}", file=sys.stderr)
                    results[name] = merge(results[name], one)
    print(table(results))
    print()
    print(extra_table(results))
    print("\nTargets, as ratios within this run:")
    print("\n".join(target_lines(results)))
    if args.baseline:
        print(f"\nAgainst the baseline checkout {args.baseline}:")
        print("\n".join(baseline_lines(results, args.concurrency)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
