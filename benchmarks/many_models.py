"""Many models in one server (issue 23): one drucker server with 50 small scikit-learn models
against the same server with one, side by side in one run, and MLServer 1.7 holding the same 50.

    python -m benchmarks.many_models --models 50 --duration 5 --warmup 1 --repetitions 3

Both drucker servers run at once and their load windows take turns (a busy moment of a shared
machine hits both alike). Measured: V2 gRPC req/s of one model at 1 and 32 concurrent requests,
and at 32 with the requests spread over all the models; resident memory (RSS and PSS, the whole
process tree) of each server and per extra model, and of MLServer's multi-model mode (one model
folder each, loaded at start); the time to load every model at start; the time of one
``RepositoryModelLoad`` while the other models serve under load, with the others' p99 in that
window against a window without a load. Prints one JSON object, then a summary.
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
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import joblib
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from benchmarks.model import FEATURES
from benchmarks.peers import MLSERVER_BIN, ensure_mlserver
from benchmarks.procstat import memory_mib
from drucker._wire import grpc_predict_v2_pb2 as v2
from drucker._wire import grpc_predict_v2_pb2_grpc as v2_grpc

TOKEN = "bench-token"
AUTH = [("authorization", f"Bearer {TOKEN}")]
# As the other drucker targets: prediction logs off, predictions on the event loop.
DRUCKER_ENV = {
    "DRUCKER_LOG_PREDICTIONS": "false",
    "DRUCKER_APP_PREDICT_THREADS": "0",
    "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
    "DRUCKER_HTTP_PORT": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def name_of(index: int) -> str:
    return f"m{index:02d}"


def train_models(count: int, folder: Path) -> dict[str, Path]:
    """``count`` small logistic regressions (20 features, 3 classes), each from its own seed."""
    files = {}
    for index in range(count):
        x, y = make_classification(
            n_samples=300, n_features=FEATURES, n_informative=10, n_classes=3, random_state=index
        )
        path = folder / f"{name_of(index)}.joblib"
        joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
        files[name_of(index)] = path
    return files


# -- servers ------------------------------------------------------------------------------------


class Server:
    """One server process tree started in its own folder; ``ready`` polls its repository."""

    def __init__(self, label: str, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.label = label
        self.log = cwd / "server.log"
        self.started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=log
            )

    def wait_ready(self, count: int, ready: Any, timeout: float = 300) -> float:
        """Seconds from launch until ``ready()`` counts ``count`` READY models."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if ready() >= count:
                    return time.monotonic() - self.started
            except (grpc.RpcError, OSError, ValueError):
                pass
            time.sleep(0.05)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.label} did not get {count} models ready:\n{tail}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_drucker(
    label: str, files: dict[str, Path], workdir: Path, extra: dict[str, str]
) -> tuple[Server, int]:
    port = free_port()
    argv = [
        *(sys.executable, "-m", "drucker", "serve", "-p", "drucker_sklearn", "-p", "no:jsonlog"),
        *(arg for name, path in files.items() for arg in ("--model", f"{name}={path}")),
        *("--port", str(port), "--host", "127.0.0.1"),
    ]
    env = {**DRUCKER_ENV, "DRUCKER_METRICS_PORT": str(free_port()), **extra}
    return Server(label, argv, workdir / label, env), port


def drucker_ready(port: int) -> Any:
    def ready() -> int:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = v2_grpc.GRPCInferenceServiceStub(channel)
            reply = stub.RepositoryIndex(
                v2.RepositoryIndexRequest(ready=True), metadata=AUTH, timeout=2
            )
        return sum(model.state == "READY" for model in reply.models)

    return ready


def start_mlserver(files: dict[str, Path], workdir: Path) -> tuple[Server, int]:
    """MLServer's multi-model mode: a folder per model, every one loaded at start."""
    folder = workdir / "mlserver"
    folder.mkdir()
    http_port = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "debug": False,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    for name, path in files.items():
        (folder / name).mkdir()
        (folder / name / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": str(path)},
                }
            )
        )
    return Server(
        "mlserver-1.7.1", [str(MLSERVER_BIN), "start", str(folder)], folder, {}
    ), http_port


def mlserver_ready(http_port: int) -> Any:
    def ready() -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/v2/repository/index",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=2) as response:
            return sum(model.get("state") == "READY" for model in json.loads(response.read()))

    return ready


# -- load ---------------------------------------------------------------------------------------


def loadgen(
    port: int, models: list[str], concurrency: int, args: argparse.Namespace, start_at: float = 0
) -> Any:
    """Start the load generator (V2 gRPC), its load beginning at ``start_at`` (``time.time()``)
    when given; ``.communicate()`` gives its JSON summary."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "benchmarks.loadgen", "--target", f"127.0.0.1:{port}"),
            *("--protocol", "v2", "--model", ",".join(models)),
            *("--concurrency", str(concurrency), "--duration", str(args.duration)),
            *("--warmup", str(args.warmup), "--start-at", str(start_at)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def window(port: int, models: list[str], concurrency: int, args: argparse.Namespace) -> Any:
    out, _ = loadgen(port, models, concurrency, args).communicate()
    return json.loads(out)


def repository_call(port: int, rpc: str, name: str) -> float:
    """Seconds one RepositoryModelLoad / RepositoryModelUnload took."""
    request = (
        v2.RepositoryModelLoadRequest(model_name=name)
        if rpc == "load"
        else v2.RepositoryModelUnloadRequest(model_name=name)
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = v2_grpc.GRPCInferenceServiceStub(channel)
        call = stub.RepositoryModelLoad if rpc == "load" else stub.RepositoryModelUnload
        began = time.perf_counter()
        call(request, metadata=AUTH, timeout=120)
        return time.perf_counter() - began


def load_under_load(
    port: int, pid: int, names: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Unload the last model, then load it back while the others serve at 32 concurrent
    requests; the others' figures in that window and in one just before without a load."""
    last, others = names[-1], names[:-1]
    before = memory_mib(pid)
    unload_s = repository_call(port, "unload", last)
    time.sleep(args.grace)  # the unloaded model's in-flight grace, then its memory is freed
    after_unload = memory_mib(pid)
    quiet = window(port, others, 32, args)
    start_at = time.time() + 3  # the generator's start-up (imports) is over by then
    generator = loadgen(port, others, 32, args, start_at)
    time.sleep(max(0.0, start_at + args.warmup + args.duration / 2 - time.time()))
    timer: dict[str, float] = {}
    thread = threading.Thread(
        target=lambda: timer.update(load_s=repository_call(port, "load", last))
    )
    thread.start()
    out, _ = generator.communicate()
    thread.join()
    return {
        "unload_s": unload_s,
        "load_s": timer["load_s"],
        "rss_before_unload_mib": before["rss_mib"],
        "rss_after_unload_mib": after_unload["rss_mib"],
        "others_without_load": quiet,
        "others_during_load": json.loads(out),
    }


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    files = train_models(args.models, workdir)
    names = list(files)
    extra = {"DRUCKER_BATCHING_ENABLED": "false"} if args.no_batching else {}
    one, one_port = start_drucker("drucker-1", {names[0]: files[names[0]]}, workdir, extra)
    many, many_port = start_drucker(f"drucker-{args.models}", files, workdir, extra)
    servers = [one, many]
    result: dict[str, Any] = {"models": args.models}
    try:
        result["start_s"] = {
            "one": one.wait_ready(1, drucker_ready(one_port)),
            "many": many.wait_ready(args.models, drucker_ready(many_port)),
        }
        runs: dict[str, list[Any]] = {}
        plan = [
            *(
                []
                if args.only_c32
                else [("one c=1", one_port, names[:1], 1), ("many c=1", many_port, names[:1], 1)]
            ),
            ("one c=32", one_port, names[:1], 32),
            ("many c=32", many_port, names[:1], 32),
            ("many spread c=32", many_port, names, 32),
        ]
        for _ in range(args.repetitions):
            for label, port, models, concurrency in plan:
                runs.setdefault(label, []).append(window(port, models, concurrency, args))
        result["runs"] = runs
        result["memory"] = {
            "one": memory_mib(one.process.pid),
            "many": memory_mib(many.process.pid),
        }
        result["load_under_load"] = load_under_load(many_port, many.process.pid, names, args)
    finally:
        for server in servers:
            server.stop()
    if not args.no_mlserver:
        ensure_mlserver()
        result["mlserver_one"] = mlserver_figures({names[0]: files[names[0]]}, workdir / "ml-1")
        result |= mlserver_figures(files, workdir / f"ml-{args.models}")
    return result


def mlserver_figures(files: dict[str, Path], workdir: Path) -> dict[str, Any]:
    """MLServer's start-up time and memory holding ``files``."""
    workdir.mkdir()
    mlserver, http_port = start_mlserver(files, workdir)
    try:
        started = mlserver.wait_ready(len(files), mlserver_ready(http_port))
        time.sleep(1)
        return {"mlserver_start_s": started, "mlserver_memory": memory_mib(mlserver.process.pid)}
    finally:
        mlserver.stop()


def _median(runs: list[Any], field: str = "rps") -> float:
    return float(statistics.median(run[field] for run in runs))


def _paired(runs: list[Any], against: list[Any]) -> float:
    """The median of the ratios of windows measured one after the other (same repetition)."""
    return float(statistics.median(a["rps"] / b["rps"] for a, b in zip(runs, against, strict=True)))


def summary(result: dict[str, Any]) -> list[str]:
    runs, count = result["runs"], result["models"]
    one, many = result["memory"]["one"], result["memory"]["many"]
    load = result["load_under_load"]
    lines = []
    if "one c=1" in runs:
        lines.append(
            f"req/s c=1: one model {_median(runs['one c=1']):.0f}, {count} models "
            f"{_median(runs['many c=1']):.0f} "
            f"(ratio {_median(runs['many c=1']) / _median(runs['one c=1']):.3f}, paired "
            f"{_paired(runs['many c=1'], runs['one c=1']):.3f}, target >= 0.95)"
        )
    lines += [
        f"req/s c=32: one model {_median(runs['one c=32']):.0f}, {count} models "
        f"{_median(runs['many c=32']):.0f} "
        f"(ratio {_median(runs['many c=32']) / _median(runs['one c=32']):.3f}, paired "
        f"{_paired(runs['many c=32'], runs['one c=32']):.3f}, target >= 0.95)",
        f"req/s c=32 spread over {count} models {_median(runs['many spread c=32']):.0f} "
        f"(ratio to one model {_median(runs['many spread c=32']) / _median(runs['one c=32']):.3f}"
        f", paired {_paired(runs['many spread c=32'], runs['one c=32']):.3f}, target >= 0.9)",
        f"RSS: one model {one['rss_mib']:.0f} MiB, {count} models {many['rss_mib']:.0f} MiB, "
        f"per extra model {(many['rss_mib'] - one['rss_mib']) / (count - 1):.2f} MiB "
        f"(PSS {one['pss_mib']:.0f} / {many['pss_mib']:.0f})",
        f"start: one model {result['start_s']['one']:.2f} s, {count} models "
        f"{result['start_s']['many']:.2f} s",
        f"RepositoryModelLoad of one model under load: {load['load_s'] * 1000:.0f} ms; "
        f"others' p99 {load['others_during_load']['p99_ms']:.2f} ms (max "
        f"{load['others_during_load']['max_ms']:.1f}) against "
        f"{load['others_without_load']['p99_ms']:.2f} ms (max "
        f"{load['others_without_load']['max_ms']:.1f}) without a load; errors "
        f"{load['others_during_load']['errors']}",
        f"unload: {load['unload_s'] * 1000:.0f} ms, RSS {load['rss_before_unload_mib']:.1f} -> "
        f"{load['rss_after_unload_mib']:.1f} MiB",
    ]
    if "mlserver_memory" in result:
        ml, one_ml = result["mlserver_memory"], result["mlserver_one"]["mlserver_memory"]
        lines.append(
            f"MLServer 1.7.1, {count} models: RSS {ml['rss_mib']:.0f} MiB, PSS "
            f"{ml['pss_mib']:.0f} MiB ({ml['processes']} processes), start "
            f"{result['mlserver_start_s']:.2f} s, per extra model "
            f"{(ml['rss_mib'] - one_ml['rss_mib']) / (count - 1):.2f} MiB; drucker / MLServer RSS "
            f"{many['rss_mib'] / ml['rss_mib']:.3f}, PSS {many['pss_mib'] / ml['pss_mib']:.3f} "
            "(target <= 0.5)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--grace", type=float, default=6, help="wait after the unload (s)")
    parser.add_argument("--no-mlserver", action="store_true")
    parser.add_argument(
        "--no-batching", action="store_true", help="both drucker servers with batching off"
    )
    parser.add_argument("--only-c32", action="store_true", help="skip the c=1 windows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drucker-many-") as workdir:
        result = measure(args, Path(workdir))
    print(json.dumps(result))
    for line in summary(result):
        print(line)


if __name__ == "__main__":
    main()
