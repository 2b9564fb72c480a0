"""One big V2 request, side by side: the floor against drucker with its default settings.

    python -m benchmarks.big_tensor [--rows 100000] [--repetitions 5]

Each server (``floor-v2x64`` and ``drucker-v2x64`` of ``benchmarks/targets.py``) is started on
its own, sent one ``[rows, 20]`` FP32 tensor in typed contents (as tritonclient and KServe's
client send it) ``repetitions`` times, one after the other, and stopped. Prints the median and
best wall-clock time per request and the server's peak RSS, and their ratios.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from benchmarks.model import FEATURES, train
from benchmarks.procstat import peak_rss_mib
from benchmarks.run import _launch, _stop
from benchmarks.targets import ROWS, TARGETS
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc

MESSAGE_LIMIT = 1 << 28
SERVERS = (f"floor-v2x{ROWS}", f"drucker-v2x{ROWS}")


def _request(rows: int) -> Any:
    data = np.random.default_rng(0).normal(size=(rows, FEATURES)).astype(np.float32)
    request = pb.ModelInferRequest(model_name="bench")
    tensor = request.inputs.add(name="input-0", datatype="FP32", shape=[rows, FEATURES])
    tensor.contents.fp32_contents.extend(data.reshape(-1).tolist())
    return request


def _time(name: str, model: Path, workdir: Path, request: Any, repetitions: int) -> dict[str, Any]:
    server, port, _ = _launch(TARGETS[name], model, workdir)
    options = [
        ("grpc.max_receive_message_length", MESSAGE_LIMIT),
        ("grpc.max_send_message_length", MESSAGE_LIMIT),
    ]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            seconds = []
            for _ in range(repetitions):
                started = time.perf_counter()
                stub.ModelInfer(request, timeout=300)
                seconds.append(time.perf_counter() - started)
        peak, _ = peak_rss_mib(server.pid)
    finally:
        _stop(server)
    return {"median_s": statistics.median(seconds), "best_s": min(seconds), "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    request = _request(args.rows)
    with tempfile.TemporaryDirectory(prefix="drucker-bench-") as temp:
        workdir = Path(temp)
        model = train(workdir / "model.joblib")
        results = {name: _time(name, model, workdir, request, args.repetitions) for name in SERVERS}
    print(f"one [{args.rows}, {FEATURES}] FP32 request (typed contents), {args.repetitions} times")
    print("| server | median s | best s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, result in results.items():
        print(
            f"| {name} | {result['median_s']:.3f} | {result['best_s']:.3f} "
            f"| {result['peak_rss_mib']:.0f} |"
        )
    floor, drucker = (results[name] for name in SERVERS)
    print(f"- median time, drucker / floor: {drucker['median_s'] / floor['median_s']:.2f}")
    print(f"- peak RSS, drucker / floor: {drucker['peak_rss_mib'] / floor['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
