"""Reliability figures of a real `drucker serve` process, for RELIABILITY.md.

python -m benchmarks.reliability

1. Memory: RSS of the server before and after 10 sequential failing ``Predict_ArrFloat_String``
   requests of 60 MiB (near the 64 MiB message limit), and its peak during 4 concurrent ones.
2. Health-check latency while one 100,000-row V2 ``ModelInfer`` (FP32, 20 features) is served
   by the benchmark's scikit-learn model: median, 99th percentile and maximum of back-to-back
   checks.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.model import FEATURES, train
from benchmarks.run import free_port
from drucker._wire import drucker_pb2
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
ECHO_PLUGIN = str(REPO / "tests" / "plugins" / "echo_plugin.py")


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _serve(args: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, "-m", "drucker", "serve", "-p", "no:jsonlog", *args]
    side = ["--metrics-port", str(free_port())]
    if "--http-port" not in args:
        side += ["--http-port", str(free_port())]
    process = subprocess.Popen([*command, "--port", str(port), *side], cwd=cwd)
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return process, port
            except grpc.RpcError:
                time.sleep(0.1)
    process.kill()
    raise TimeoutError("the server did not start")


def _varint(value: int) -> bytes:
    """``value`` as a protobuf varint."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _arr_float_message(payload: int) -> bytes:
    packed = struct.pack("<f", 0.5) * (payload // 4)
    option = drucker_pb2.Option(val='{"raise": "value"}').SerializeToString()
    return b"\x0a" + _varint(len(packed)) + packed + b"\x12" + bytes([len(option)]) + option


def memory(work: Path) -> None:
    (work / "echo.model").write_text("m")
    process, port = _serve(["-p", ECHO_PLUGIN, "-m", str(work / "echo.model")], work)
    message = _arr_float_message(60 * MiB)
    options = [("grpc.max_send_message_length", 100 * MiB)]
    try:
        start = _status(process.pid, "VmRSS")
        with grpc.insecure_channel(f"127.0.0.1:{port}", options) as channel:
            call = channel.unary_unary("/drucker.DruckerWorker/Predict_ArrFloat_String")
            for _ in range(10):
                _failing(call, message)
            time.sleep(1)  # the server unwinds after the client has its status
            after = _status(process.pid, "VmRSS")
            threads = [threading.Thread(target=_failing, args=(call, message)) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak = _status(process.pid, "VmHWM")
    finally:
        process.terminate()
        process.wait(30)
    print(f"message: {len(message) / MiB:.1f} MiB Predict_ArrFloat_String, failing (ValueError)")
    print(f"RSS at start: {start / MiB:.0f} MiB")
    print(f"RSS after 10 sequential failures: {after / MiB:.0f} MiB (+{(after - start) / MiB:.0f})")
    bound = start + 4 * 3 * len(message)
    print(f"peak RSS with 4 concurrent: {peak / MiB:.0f} MiB (bound {bound / MiB:.0f} MiB)")


def _failing(call: grpc.UnaryUnaryMultiCallable, message: bytes) -> None:
    with contextlib.suppress(grpc.RpcError):
        call(message, timeout=120)


def health_during_big_tensor(work: Path) -> None:
    model = train(work / "iris.joblib")
    process, port = _serve(["-p", "drucker_sklearn", "-m", str(model)], work)
    rows = 100_000
    data = np.random.default_rng(0).normal(0, 1, (rows, FEATURES)).astype("<f4")
    shape = [rows, FEATURES]
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=shape)
    request = pb.ModelInferRequest(
        model_name="drucker", inputs=[tensor], raw_input_contents=[data.tobytes()]
    )
    target = f"127.0.0.1:{port}"
    big = [("grpc.max_receive_message_length", 64 * MiB)]
    latencies: list[float] = []
    try:
        with grpc.insecure_channel(target, big) as channel, grpc.insecure_channel(target) as probe:
            health = health_pb2_grpc.HealthStub(probe)
            health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            idle = _checks_for(health, 3.0)  # the same checks with nothing else to serve
            started = time.perf_counter()
            infer = threading.Thread(
                target=stub.ModelInfer, args=(request,), kwargs={"timeout": 120}
            )
            infer.start()
            while infer.is_alive():
                begin = time.perf_counter()
                health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                latencies.append(time.perf_counter() - begin)
            infer.join()
            took = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)
    print(f"V2 ModelInfer of {rows} rows (LogisticRegression, drucker_sklearn): {took:.2f} s")
    print(f"health checks during it: {_summary(latencies)}")
    print(f"health checks of the idle server (baseline, same run): {_summary(idle)}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def _checks_for(health: health_pb2_grpc.HealthStub, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        begin = time.perf_counter()
        health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        latencies.append(time.perf_counter() - begin)
    return latencies


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(ordered)} checks, median {statistics.median(ordered) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="drucker-reliability-") as directory:
        memory(Path(directory))
        health_during_big_tensor(Path(directory))


if __name__ == "__main__":
    main()
