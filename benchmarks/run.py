"""Run the side-by-side comparison and print the table.

python -m benchmarks                      # every target, 15 s windows, 3 repetitions
python -m benchmarks --targets floor,drucker-tuned --duration 5 --repetitions 1
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(output))


def measure(target: Target, model: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Cold start, then each concurrency for several repetitions."""
    target.prepare()
    port = free_port()
    launched = time.monotonic()
    server = start(target, model, port, workdir)
    try:
        if not _first_prediction(target, port, launched + 120):
            log = (workdir / f"{target.name}.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{target.name} did not answer:\n{log}")
        result: dict[str, Any] = {"cold_start_s": time.monotonic() - launched, "runs": {}}
        for concurrency in args.concurrency:
            runs = []
            for _ in range(args.repetitions):
                cpu_before = cpu_seconds(server.pid)
                run = _load(target, port, concurrency, args)
                cpu = cpu_seconds(server.pid) - cpu_before
                # The window includes the warm-up: charge CPU to all requests sent in it.
                sent = run["requests"] * (args.duration + args.warmup) / args.duration
                run["server_cpu_per_1000"] = 1000 * cpu / max(sent, 1)
                runs.append(run)
            result["runs"][concurrency] = runs
        result["peak_rss_mib"], result["tree_rss_mib"] = peak_rss_mib(server.pid)
        return result
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


def _cell(values: list[float], digits: int = 0) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(results: dict[str, dict[str, Any]], concurrency: list[int]) -> str:
    header = (
        "| target | conc. | req/s | p50 ms | p99 ms | errors | server CPU-s/1k req "
        "| loadgen CPU % | peak RSS MiB (1 proc / all) | cold start s |"
    )
    lines = [header, "|" + "---|" * 10]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | - | failed: {result['error'][:60]} |" + " |" * 7)
            continue
        for level in concurrency:
            runs = result["runs"][level]
            lines.append(
                f"| {name} | {level} | {_cell([r['rps'] for r in runs])} "
                f"| {_cell([r['p50_ms'] for r in runs], 2)} "
                f"| {_cell([r['p99_ms'] for r in runs], 2)} "
                f"| {sum(r['errors'] for r in runs)} "
                f"| {_cell([r['server_cpu_per_1000'] for r in runs], 2)} "
                f"| {_cell([100 * r['loadgen_cpu_seconds'] / r['seconds'] for r in runs])} "
                f"| {result['peak_rss_mib']:.0f} / {result['tree_rss_mib']:.0f} "
                f"| {result['cold_start_s']:.2f} |"
            )
    return "\n".join(lines)


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
    args = parser.parse_args()
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="drucker-bench-") as temp:
        workdir = Path(temp)
        model = train(workdir / "model.joblib")
        for name in names:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            try:
                results[name] = measure(TARGETS[name], model, args, workdir)
            except Exception as exc:  # one failing peer should not hide the others
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"  {name} failed: {exc}", file=sys.stderr)
    print(table(results, args.concurrency))
    print("\nTargets, as ratios within this run:")
    print("\n".join(target_lines(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
