"""Closed-loop load generator (a separate process): C workers, each one request at a time.

    python -m benchmarks.loadgen --target 127.0.0.1:5000 --protocol drucker \
        --concurrency 32 --duration 15 --warmup 3

Prints one JSON object: requests, errors, latency percentiles, and the generator's own CPU.
``--processes 2`` splits the workers over two processes (so the generator can use two cores);
``--rows 64`` sends V2 tensors of 64 rows; ``--health-probe`` also calls the standard
``grpc.health.v1.Health/Check`` every 10 ms on a connection of its own and reports how long
the answers took (a slow prediction that blocks the server shows there). ``--protocol rest``
posts V2 JSON requests over HTTP/1.1 instead, one keep-alive connection per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import resource
import time
from typing import Any

import grpc
import grpc.aio
import numpy as np
import orjson
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.http_client import HttpConnection, HttpStatusError
from benchmarks.model import sample_rows
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as v2
from drucker._wire import grpc_predict_v2_pb2_grpc as v2_grpc

CHANNELS = 8  # connections, so servers with several processes (SO_REUSEPORT) share the load
HEALTH_INTERVAL = 0.01


def drucker_call(channel: grpc.aio.Channel, model: str) -> Any:
    stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
    option = drucker_pb2.Option(val="{}")

    async def call(row: np.ndarray) -> None:
        await stub.Predict_ArrFloat_String(
            drucker_pb2.ArrFloatInput(input=row.tolist(), option=option), timeout=10
        )

    return call


def v2_call(channel: grpc.aio.Channel, model: str, outputs: list[str]) -> Any:
    """V2 inferences; ``model`` may name several models (``a,b,c``): requests go to each in turn."""
    stub = v2_grpc.GRPCInferenceServiceStub(channel)
    names = itertools.cycle(model.split(","))

    async def call(row: np.ndarray) -> None:
        request = v2.ModelInferRequest(model_name=next(names))
        shape = list(row.shape) if row.ndim == 2 else [1, row.size]
        tensor = request.inputs.add(name="input-0", datatype="FP32", shape=shape)
        tensor.contents.fp32_contents.extend(row.reshape(-1).tolist())
        for name in outputs:
            request.outputs.add(name=name)
        await stub.ModelInfer(request, timeout=10)

    return call


def rest_body(row: np.ndarray, outputs: list[str]) -> bytes:
    """A V2 JSON inference request for one row (or a block of rows)."""
    shape = list(row.shape) if row.ndim == 2 else [1, row.size]
    tensor = {"name": "input-0", "shape": shape, "datatype": "FP32", "data": row.tolist()}
    document: dict[str, Any] = {"inputs": [tensor]}
    if outputs:
        document["outputs"] = [{"name": name} for name in outputs]
    return orjson.dumps(document)


def rest_call(connection: HttpConnection, model: str, outputs: list[str]) -> Any:
    path = f"/v2/models/{model}/infer"
    bodies: dict[int, bytes] = {}

    async def call(row: np.ndarray) -> None:
        body = bodies.get(id(row))
        if body is None:
            body = bodies[id(row)] = rest_body(row, outputs)
        await connection.post(path, body)

    return call


async def probe_health(target: str, measure_from: float, stop_at: float) -> list[float]:
    """Latencies of health checks sent every ``HEALTH_INTERVAL`` within the window."""
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while (now := time.perf_counter()) < stop_at:
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
            if now >= measure_from:
                latencies.append(time.perf_counter() - now)
            await asyncio.sleep(HEALTH_INTERVAL)
    return latencies


def _requests(rows: int) -> list[np.ndarray]:
    """What the workers send in turn: single rows, or blocks of ``rows`` rows."""
    single = sample_rows()
    if rows <= 1:
        return list(single)
    return [np.roll(single, -start, axis=0)[:rows] for start in range(0, len(single), 7)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """One process's share of the load; latencies are returned raw (seconds)."""
    if args.start_at:
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
    rows = _requests(args.rows)
    outputs = args.outputs.split(",") if args.outputs else []
    channels: list[grpc.aio.Channel] = []
    connections: list[HttpConnection] = []
    if args.protocol == "rest":
        host, port = args.target.rsplit(":", 1)
        connections = [HttpConnection(host, int(port)) for _ in range(args.concurrency)]
        calls = [rest_call(connection, args.model, outputs) for connection in connections]
    else:
        channels = [
            grpc.aio.insecure_channel(args.target, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(min(CHANNELS, args.concurrency))
        ]
    if args.protocol == "drucker":
        calls = [drucker_call(channel, args.model) for channel in channels]
    elif args.protocol == "v2":
        calls = [v2_call(channel, args.model, outputs) for channel in channels]
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    measure_from = started + args.warmup
    stop_at = measure_from + args.duration
    probe = (
        asyncio.ensure_future(probe_health(args.target, measure_from, stop_at))
        if args.health_probe
        else None
    )

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
            except (HttpStatusError, OSError, asyncio.IncompleteReadError) as error:
                if now >= measure_from:
                    errors.append(str(error) or type(error).__name__)
                continue
            if now >= measure_from:
                latencies.append(time.perf_counter() - now)

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    health = await probe if probe is not None else []
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for channel in channels:
        await channel.close()
    for connection in connections:
        await connection.close()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"latencies": latencies, "errors": errors, "health": health, "cpu": cpu}


def _share(args: argparse.Namespace, index: int) -> dict[str, Any]:
    """Run process ``index``'s share of the workers (in a child process)."""
    share = argparse.Namespace(**vars(args))
    share.concurrency = args.concurrency // args.processes + (
        1 if index < args.concurrency % args.processes else 0
    )
    share.health_probe = args.health_probe and index == 0
    return asyncio.run(run(share))


def _ms(values: list[float], percentile: float) -> float:
    return float(np.percentile(np.asarray(values), percentile) * 1000) if values else 0.0


def summary(args: argparse.Namespace, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of all processes' shares together."""
    latencies = [value for part in parts for value in part["latencies"]]
    errors = [error for part in parts for error in part["errors"]]
    health = [value for part in parts for value in part["health"]]
    result = {
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "seconds": args.duration,
        "rps": len(latencies) / args.duration,
        "rows_per_s": len(latencies) * max(args.rows, 1) / args.duration,
        "p50_ms": _ms(latencies, 50),
        "p99_ms": _ms(latencies, 99),
        "max_ms": max(latencies, default=0.0) * 1000,
        "loadgen_cpu_seconds": sum(part["cpu"] for part in parts),
        "loadgen_processes": args.processes,
    }
    if args.health_probe:
        result |= {
            "health_checks": len(health),
            "health_p50_ms": _ms(health, 50),
            "health_p99_ms": _ms(health, 99),
            "health_max_ms": max(health, default=0.0) * 1000,
        }
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the load in ``args.processes`` processes, starting together; the summary."""
    if args.processes <= 1:
        return summary(args, [asyncio.run(run(args))])
    args.start_at = time.time() + 2.0  # time for the processes to start and import
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        parts = pool.starmap(_share, [(args, index) for index in range(args.processes)])
    return summary(args, parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--protocol", choices=["drucker", "v2", "rest"], default="drucker")
    parser.add_argument(
        "--model", default="bench", help="V2 model name (a,b,c: each in turn, gRPC V2)"
    )
    parser.add_argument("--outputs", default="", help="V2 outputs to request, comma-separated")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rows", type=int, default=1, help="rows per V2 request")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes")
    parser.add_argument("--health-probe", action="store_true", help="time health checks too")
    parser.add_argument(
        "--start-at", type=float, default=0.0, help="begin at this time.time() (a shared start)"
    )
    args = parser.parse_args()
    print(json.dumps(measure(args)))


if __name__ == "__main__":
    main()
