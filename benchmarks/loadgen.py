"""Closed-loop load generator (a separate process): C workers, each one request at a time.

    python -m benchmarks.loadgen --target 127.0.0.1:5000 --protocol drucker \
        --concurrency 32 --duration 15 --warmup 3

Prints one JSON object: requests, errors, latency percentiles, and the generator's own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

import grpc
import grpc.aio
import numpy as np

from benchmarks.model import sample_rows
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as v2
from drucker._wire import grpc_predict_v2_pb2_grpc as v2_grpc

CHANNELS = 8  # connections, so servers with several processes (SO_REUSEPORT) share the load


def drucker_call(channel: grpc.aio.Channel, model: str) -> Any:
    stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
    option = drucker_pb2.Option(val="{}")

    async def call(row: np.ndarray) -> None:
        await stub.Predict_ArrFloat_String(
            drucker_pb2.ArrFloatInput(input=row.tolist(), option=option), timeout=10
        )

    return call


def v2_call(channel: grpc.aio.Channel, model: str, outputs: list[str]) -> Any:
    stub = v2_grpc.GRPCInferenceServiceStub(channel)

    async def call(row: np.ndarray) -> None:
        request = v2.ModelInferRequest(model_name=model)
        tensor = request.inputs.add(name="input-0", datatype="FP32", shape=[1, row.size])
        tensor.contents.fp32_contents.extend(row.tolist())
        for name in outputs:
            request.outputs.add(name=name)
        await stub.ModelInfer(request, timeout=10)

    return call


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = sample_rows()
    channels = [
        grpc.aio.insecure_channel(args.target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(min(CHANNELS, args.concurrency))
    ]
    if args.protocol == "drucker":
        calls = [drucker_call(channel, args.model) for channel in channels]
    else:
        outputs = args.outputs.split(",") if args.outputs else []
        calls = [v2_call(channel, args.model, outputs) for channel in channels]
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    measure_from = started + args.warmup
    stop_at = measure_from + args.duration

    async def worker(index: int) -> None:
        call = calls[index % len(calls)]
        position = index
        while (now := time.perf_counter()) < stop_at:
            row = rows[position % len(rows)]
            position += 7
            try:
                await call(row)
            except grpc.RpcError as error:
                if now >= measure_from:
                    errors.append(str(error.code()))
                continue
            if now >= measure_from:
                latencies.append(time.perf_counter() - now)

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for channel in channels:
        await channel.close()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    ordered = np.sort(np.asarray(latencies)) if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "seconds": args.duration,
        "rps": len(latencies) / args.duration,
        "p50_ms": float(np.percentile(ordered, 50) * 1000),
        "p99_ms": float(np.percentile(ordered, 99) * 1000),
        "loadgen_cpu_seconds": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--protocol", choices=["drucker", "v2"], default="drucker")
    parser.add_argument("--model", default="bench", help="V2 model name")
    parser.add_argument("--outputs", default="", help="V2 outputs to request, comma-separated")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
