"""Three replicas on one S3 model store (moto's server on loopback): how long a switch takes to
reach the last replica, and predictions per second while switches happen against none.

    python -m benchmarks.replicas --switches 10 --duration 8 --repetitions 3 --follow-interval 2

Needs `pip install -e '.[sklearn,s3]' 'moto[server]'`. Prints one JSON object and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import joblib
from moto.server import ThreadedMotoServer

from benchmarks.model import train
from drucker.client import Client
from drucker.store.atomic import sha256_of

TOKEN = "bench-token"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def models(workdir: Path) -> dict[str, Path]:
    """Two models that predict alike but differ in bytes (so a switch loads another file)."""
    first = train(workdir / "a.joblib")
    model = joblib.load(first)
    model.max_iter = 999
    second = workdir / "b.joblib"
    joblib.dump(model, second)
    return {"a.joblib": first, "b.joblib": second}


def start_replicas(workdir: Path, env: dict[str, str], model: Path) -> list[Any]:
    replicas = []
    for index in range(3):
        home = workdir / f"replica-{index}"
        home.mkdir()
        port = free_port()
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "drucker", "serve", "-p", "drucker_sklearn"),
                *("-p", "no:jsonlog", "--model", str(model), "--port", str(port)),
            ],
            cwd=home,
            env={**os.environ, **env, "DRUCKER_STORE_CACHE_DIR": str(home / "cache")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        replicas.append((process, Client(f"127.0.0.1:{port}", token=TOKEN), port))
    for _, client, _ in replicas:
        deadline = time.monotonic() + 60
        while not healthy(client):
            if time.monotonic() > deadline:
                raise TimeoutError("a replica did not start")
            time.sleep(0.05)
    return replicas


def healthy(client: Client) -> bool:
    try:
        return client.health()
    except Exception:  # not listening yet
        return False


def switch_and_wait(replicas: list[Any], via: int, name: str, sha256: str) -> float:
    """Seconds from the switch call to the last replica reporting the new model."""
    started = time.perf_counter()
    replicas[via][1].switch_model(name)
    pending = {index for index in range(len(replicas))}
    while pending:
        for index in list(pending):
            if replicas[index][1].service_info().model_sha256 == sha256:
                pending.discard(index)
        time.sleep(0.005)
    return time.perf_counter() - started


def load(replicas: list[Any], seconds: float, concurrency: int) -> list[dict[str, Any]]:
    """One load generator per replica at once; their results."""
    commands = [
        [
            *(sys.executable, "-m", "benchmarks.loadgen", "--target", f"127.0.0.1:{port}"),
            *("--concurrency", str(concurrency), "--duration", str(seconds), "--warmup", "1"),
        ]
        for _, _, port in replicas
    ]
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for c in commands]
    return [json.loads(p.communicate()[0]) for p in processes]


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": sum(r["rps"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
    }


def loaded_while_switching(
    replicas: list[Any], args: argparse.Namespace, names: list[str], digests: dict[str, str]
) -> dict[str, Any]:
    """One load window during which switches follow each other back to back."""
    stop = threading.Event()
    switched = 0

    def keep_switching() -> None:
        nonlocal switched
        time.sleep(1)  # the load generators' warm-up
        while not stop.is_set():
            name = names[switched % 2]
            switch_and_wait(replicas, switched % 3, name, digests[name])
            switched += 1

    switcher = threading.Thread(target=keep_switching)
    switcher.start()
    try:
        result = summary(load(replicas, args.duration, args.concurrency))
    finally:
        stop.set()
        switcher.join()
    return {**result, "switches": switched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--switches", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10, help="seconds of each load run")
    parser.add_argument("--concurrency", type=int, default=4, help="per replica")
    parser.add_argument("--follow-interval", type=float, default=2.0)
    parser.add_argument("--repetitions", type=int, default=3, help="load windows of each kind")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="drucker-bench-replicas-"))
    port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "DRUCKER_STORE_URL": "s3://bench/store",
        "DRUCKER_STORE_FOLLOW_INTERVAL": str(args.follow_interval),
        "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
        "DRUCKER_LOG_PREDICTIONS": "false",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    import boto3

    boto3.client("s3").create_bucket(Bucket="bench")
    files = models(workdir)
    digests = {name: sha256_of(path) for name, path in files.items()}
    replicas = start_replicas(workdir, env, files["a.joblib"])
    try:
        for name, path in files.items():
            replicas[0][1].upload_model(path, name)
        names = list(files)
        times = []
        pause = random.Random(0)
        for turn in range(args.switches):
            # Switch at a random moment of the replicas' polling cycle, as a user would.
            time.sleep(pause.uniform(0, args.follow_interval))
            name = names[turn % 2]
            times.append(switch_and_wait(replicas, turn % 3, name, digests[name]))
        quiet: list[dict[str, Any]] = []
        busy: list[dict[str, Any]] = []
        for _ in range(args.repetitions):  # alternating windows, so drift hits both alike
            quiet.append(summary(load(replicas, args.duration, args.concurrency)))
            busy.append(loaded_while_switching(replicas, args, names, digests))
    finally:
        for process, client, _ in replicas:
            client.close()
            process.terminate()
            process.wait(30)
        s3.stop()
    result: dict[str, Any] = {
        "follow_interval_s": args.follow_interval,
        "switch_to_last_replica_s": {
            "median": statistics.median(times),
            "min": min(times),
            "max": max(times),
            "all": [round(t, 3) for t in times],
        },
        "no_switches": quiet,
        "with_switches": busy,
        "median_rps_without": statistics.median(q["rps"] for q in quiet),
        "median_rps_with": statistics.median(b["rps"] for b in busy),
        "errors": sum(r["errors"] for r in quiet + busy),
    }
    result["rps_ratio_with_to_without"] = result["median_rps_with"] / result["median_rps_without"]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
