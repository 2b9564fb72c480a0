"""Big bodies against gRPC health: 4 concurrent 57 MB V2 REST JSON bodies and 4 concurrent
60 MB ``ArrFloat`` requests to the scikit-learn plugin (issue 25); ``--arr-int`` adds 60 MB
``ArrInt`` requests (two-byte varints, decoded off the event loop).

    python -m benchmarks.big_bodies [--rest 4] [--arr-float 4] [--arr-int 0]

Starts ``drucker serve -p drucker_sklearn`` on the benchmark model (20 features) with V2 REST
on, sends the bodies from threads while one gRPC health check follows another on a channel
of its own, and prints one JSON object: the health checks' p50 / p99 / max during the bodies,
the time the bodies took, their HTTP statuses and gRPC codes, and the peak RSS of the server
(``VmHWM``) and of its decoding worker processes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import orjson
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.model import FEATURES, train
from benchmarks.reliability import MiB, _arr_float_message, _serve, _status, _varint
from benchmarks.run import free_port


def _rest_body(megabytes: float) -> bytes:
    """A V2 JSON inference body of about ``megabytes`` (FP32 rows of the model's features)."""
    rows = int(megabytes * 1e6 / (FEATURES * 11.1))
    data = np.random.default_rng(0).normal(size=(rows, FEATURES)).astype(np.float32)
    tensor = {"name": "input", "datatype": "FP32", "shape": [rows, FEATURES], "data": data}
    return orjson.dumps({"inputs": [tensor]}, option=orjson.OPT_SERIALIZE_NUMPY)


def _post(port: int, body: bytes, outcomes: list[Any]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", "/v2/models/drucker/infer", body)
        response = connection.getresponse()
        response.read()
        outcomes.append(response.status)
    finally:
        connection.close()


def _arr_int_message(payload: int) -> bytes:
    """An ``ArrIntInput`` of about ``payload`` bytes of packed varints (the value 200)."""
    packed = b"\xc8\x01" * (payload // 2)
    return b"\x0a" + _varint(len(packed)) + packed


def _array(target: str, kind: str, message: bytes, outcomes: list[Any]) -> None:
    options = [("grpc.max_send_message_length", 100 * MiB)]
    with grpc.insecure_channel(target, options) as channel:
        call = channel.unary_unary(f"/drucker.DruckerWorker/Predict_{kind}_String")
        try:
            call(message, timeout=300)
            outcomes.append("OK")
        except grpc.RpcError as error:
            outcomes.append(error.code().name)


def _children_peak(pid: int) -> int:
    """The summed peak RSS of the processes whose parent is ``pid``."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and "VmHWM" in fields:
            total += int(fields["VmHWM"].split()[0]) * 1024
    return total


def probe_until(target: str, stop: str) -> list[float]:
    """Back-to-back gRPC health checks (5 ms apart) until the file ``stop`` exists."""
    latencies = []
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        health.Check(health_pb2.HealthCheckRequest(), timeout=30)
        print("ready", flush=True)
        while not Path(stop).exists():
            begin = time.perf_counter()
            health.Check(health_pb2.HealthCheckRequest(), timeout=30)
            latencies.append(time.perf_counter() - begin)
            time.sleep(0.005)
    return latencies


def _prober(target: str, stop: Path) -> subprocess.Popen[str]:
    """:func:`probe_until` in a process of its own: the senders' threads here hold the GIL
    while they copy their bodies, which would delay checks made from this process."""
    code = (
        "import json, sys; from benchmarks.big_bodies import probe_until; "
        f"json.dump(probe_until({target!r}, {str(stop)!r}), sys.stdout)"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _ms(ordered: list[float], share: float) -> float:
    return round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    model = train(work / "model.joblib")
    os.environ.setdefault("DRUCKER_V2_MAX_ROWS", "1000000")  # the 57 MB body's rows are served
    http_port = free_port()
    process, port = _serve(
        ["-p", "drucker_sklearn", "-m", str(model), "--http-port", str(http_port)], work
    )
    target = f"127.0.0.1:{port}"
    rest_body = _rest_body(args.rest_mb)
    message = _arr_float_message(int(args.arr_float_mb * 1e6))
    ints = _arr_int_message(int(args.arr_int_mb * 1e6))
    outcomes: list[Any] = []
    children_peak = 0
    try:
        rss_start = _status(process.pid, "VmRSS")
        threads = [
            *(
                threading.Thread(target=_post, args=(http_port, rest_body, outcomes))
                for _ in range(args.rest)
            ),
            *(
                threading.Thread(target=_array, args=(target, "ArrFloat", message, outcomes))
                for _ in range(args.arr_float)
            ),
            *(
                threading.Thread(target=_array, args=(target, "ArrInt", ints, outcomes))
                for _ in range(args.arr_int)
            ),
        ]
        stop = work / "stop"
        prober = _prober(target, stop)
        assert prober.stdout is not None and prober.stdout.readline() == "ready\n"
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            children_peak = max(children_peak, _children_peak(process.pid))
            time.sleep(0.05)
        took = time.perf_counter() - started
        stop.touch()
        latencies = json.loads(prober.communicate(timeout=60)[0])
        peak = _status(process.pid, "VmHWM")
    finally:
        process.terminate()
        process.wait(30)
    ordered = sorted(latencies)
    return {
        "rest_bodies": args.rest,
        "rest_body_mb": round(len(rest_body) / 1e6, 1),
        "arr_float_requests": args.arr_float,
        "arr_float_mb": round(len(message) / 1e6, 1),
        "arr_int_requests": args.arr_int,
        "arr_int_mb": round(len(ints) / 1e6, 1),
        "outcomes": sorted(map(str, outcomes)),
        "seconds": round(took, 2),
        "health_checks": len(ordered),
        "health_p50_ms": _ms(ordered, 0.5),
        "health_p99_ms": _ms(ordered, 0.99),
        "health_max_ms": round(1000 * ordered[-1], 1),
        "rss_start_mib": round(rss_start / MiB),
        "peak_rss_mib": round(peak / MiB),
        "decoder_workers_peak_rss_mib": round(children_peak / MiB),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rest", type=int, default=4, help="concurrent V2 REST JSON bodies")
    parser.add_argument("--rest-mb", type=float, default=57.0)
    parser.add_argument("--arr-float", type=int, default=4, help="concurrent ArrFloat requests")
    parser.add_argument("--arr-float-mb", type=float, default=60.0)
    parser.add_argument("--arr-int", type=int, default=0, help="concurrent ArrInt requests")
    parser.add_argument("--arr-int-mb", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drucker-big-bodies-") as work:
        result = measure(args, Path(work))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
