"""The servers compared, each started as its own process tree on a loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs

from benchmarks.peers import DRUCKER045_PYTHON, MLSERVER_BIN, ensure_drucker045, ensure_mlserver

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"
TUNED_ENV = {"DRUCKER_LOG_PREDICTIONS": "false", "DRUCKER_APP_PREDICT_THREADS": "0"}
# Predictions always in the predict threads: the defaults before predictions moved to the loop.
THREADS_ENV = {"DRUCKER_APP_LOOP_PREDICT_MS": "0"}
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
V2_ENV = {"DRUCKER_APPLICATION_NAME": "bench"}


@attrs.frozen
class Target:
    """How to start one server and how to talk to it."""

    name: str
    protocol: str  # "drucker", "v2" (gRPC) or "rest" (V2 over HTTP on the port)
    command: Callable[[Path, int, Path], list[str]]  # (model, port, workdir) -> argv
    env: dict[str, str] = attrs.field(factory=dict)  # "{port}" in a value is the port
    prepare: Callable[[], None] = lambda: None
    v2_outputs: str = ""
    rows: int = 1  # rows per V2 request
    concurrency: tuple[int, ...] = ()  # the levels measured; empty: the command line's
    loadgen_processes: int = 1
    health_probe: bool = False  # also time health checks under the load


def _drucker(
    *extra: str, plugin: str = "drucker_sklearn"
) -> Callable[[Path, int, Path], list[str]]:
    def command(model: Path, port: int, workdir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "drucker",
            "serve",
            "--plugin",
            plugin,
            "--model",
            str(model),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *extra,
        ]

    return command


def _drucker_rest(model: Path, port: int, workdir: Path) -> list[str]:
    """drucker with gRPC on the next port; V2 REST (DRUCKER_HTTP_PORT) on ``port``."""
    return _drucker()(model, port + 1, workdir)


def _floor(model: Path, port: int, workdir: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.floor_server", str(model), str(port)]


def _floor_uvloop(model: Path, port: int, workdir: Path) -> list[str]:
    return [*_floor(model, port, workdir), "uvloop"]


def _drucker045(model: Path, port: int, workdir: Path) -> list[str]:
    return [str(DRUCKER045_PYTHON), str(HERE / "app045" / "server045.py"), str(model), str(port)]


def _mlserver(model: Path, port: int, workdir: Path) -> list[str]:
    return _mlserver_ports(model, workdir, grpc_port=port, http_port=port + 1)


def _mlserver_rest(model: Path, port: int, workdir: Path) -> list[str]:
    return _mlserver_ports(model, workdir, grpc_port=port + 1, http_port=port)


def _mlserver_ports(model: Path, workdir: Path, *, grpc_port: int, http_port: int) -> list[str]:
    folder = workdir / "mlserver"
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "grpc_port": grpc_port,
                "http_port": http_port,
                "metrics_port": http_port + 2,
                "debug": False,
            }
        )
    )
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "bench",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(model)},
            }
        )
    )
    return [str(MLSERVER_BIN), "start", str(folder)]


PLAIN = str(PLUGINS / "plain.py")
SLOW = str(PLUGINS / "slow.py")
GIL_FREE = str(PLUGINS / "gil_free.py")
SLOW_LOAD = (8,)  # concurrency for the 20 ms models
ROWS = 64

TARGETS = {
    t.name: t
    for t in [
        Target("floor", "drucker", _floor),
        Target("floor-uvloop", "drucker", _floor_uvloop),
        Target("drucker", "drucker", _drucker()),
        Target("drucker-plain", "drucker", _drucker(plugin=PLAIN)),
        Target("drucker-plain-tuned", "drucker", _drucker(plugin=PLAIN), env=TUNED_ENV),
        Target(
            "drucker-tuned-1p-unbatched",
            "drucker",
            _drucker(),
            env={**TUNED_ENV, "DRUCKER_BATCHING_ENABLED": "false"},
        ),
        Target("drucker-tuned-1p", "drucker", _drucker(), env=TUNED_ENV),
        Target(
            "drucker-tuned-1p-nometrics",
            "drucker",
            _drucker(),
            env={**TUNED_ENV, "DRUCKER_METRICS_PORT": "0"},
        ),
        Target("drucker-tuned", "drucker", _drucker("--workers", "2"), env=TUNED_ENV),
        Target(
            "drucker-v2",
            "v2",
            _drucker(),
            env={**TUNED_ENV, "DRUCKER_APPLICATION_NAME": "bench"},
        ),
        Target("drucker-0.4.5", "drucker", _drucker045, prepare=ensure_drucker045),
        Target(
            "mlserver-1.7.1", "v2", _mlserver, prepare=ensure_mlserver, v2_outputs="predict_proba"
        ),
        # V2 over HTTP, one JSON row per request.
        Target(
            "drucker-rest",
            "rest",
            _drucker_rest,
            env={**TUNED_ENV, **V2_ENV, "DRUCKER_HTTP_PORT": "{port}"},
        ),
        Target(
            "mlserver-1.7.1-rest",
            "rest",
            _mlserver_rest,
            prepare=ensure_mlserver,
            v2_outputs="predict_proba",
        ),
        # V2 requests of 64 rows: rows/s.
        Target(f"floor-v2x{ROWS}", "v2", _floor, rows=ROWS, concurrency=(1, 8)),
        Target(f"drucker-v2x{ROWS}", "v2", _drucker(), env=V2_ENV, rows=ROWS, concurrency=(1, 8)),
        Target(
            f"mlserver-v2x{ROWS}",
            "v2",
            _mlserver,
            prepare=ensure_mlserver,
            v2_outputs="predict_proba",
            rows=ROWS,
            concurrency=(1, 8),
        ),
        # Slow models (20 ms), default settings against always-in-threads, health checks timed.
        *(
            Target(
                name,
                "drucker",
                _drucker(plugin=plugin),
                env={**ONE_BLAS_THREAD, **env},
                concurrency=SLOW_LOAD,
                health_probe=True,
            )
            for plugin, stem in ((SLOW, "drucker-slow"), (GIL_FREE, "drucker-gil-free"))
            for name, env in ((stem, {}), (f"{stem}-threads", THREADS_ENV))
        ),
        # One process against --workers 2, with the load generator in two processes.
        Target(
            "drucker-plain-2lg",
            "drucker",
            _drucker(plugin=PLAIN),
            concurrency=(32,),
            loadgen_processes=2,
        ),
        Target(
            "drucker-plain-workers2-2lg",
            "drucker",
            _drucker("--workers", "2", plugin=PLAIN),
            concurrency=(32,),
            loadgen_processes=2,
        ),
    ]
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(target: Target, model: Path, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """Launch the server (its output goes to a log file in ``workdir``)."""
    log = (workdir / f"{target.name}.log").open("wb")
    # Metrics on (the default) on a free port rather than 8082, V2 REST off (8080) unless the
    # target asks; "{port}" in a target's value is its port.
    wanted = {key: value.format(port=port) for key, value in target.env.items()}
    env = {
        **os.environ,
        "DRUCKER_METRICS_PORT": str(_free_port()),
        "DRUCKER_HTTP_PORT": "0",
        **wanted,
    }
    return subprocess.Popen(
        target.command(model, port, workdir), stdout=log, stderr=log, env=env, cwd=workdir
    )
