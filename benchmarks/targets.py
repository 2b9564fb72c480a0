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
TUNED_ENV = {"DRUCKER_LOG_PREDICTIONS": "false", "DRUCKER_APP_PREDICT_THREADS": "0"}


@attrs.frozen
class Target:
    """How to start one server and how to talk to it."""

    name: str
    protocol: str  # "drucker" or "v2"
    command: Callable[[Path, int, Path], list[str]]  # (model, port, workdir) -> argv
    env: dict[str, str] = attrs.field(factory=dict)
    prepare: Callable[[], None] = lambda: None
    v2_outputs: str = ""


def _drucker(*extra: str) -> Callable[[Path, int, Path], list[str]]:
    def command(model: Path, port: int, workdir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "drucker",
            "serve",
            "--plugin",
            "drucker_sklearn",
            "--model",
            str(model),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *extra,
        ]

    return command


def _floor(model: Path, port: int, workdir: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.floor_server", str(model), str(port)]


def _drucker045(model: Path, port: int, workdir: Path) -> list[str]:
    return [str(DRUCKER045_PYTHON), str(HERE / "app045" / "server045.py"), str(model), str(port)]


def _mlserver(model: Path, port: int, workdir: Path) -> list[str]:
    folder = workdir / "mlserver"
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "grpc_port": port,
                "http_port": port + 1,
                "metrics_port": port + 2,
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


TARGETS = {
    t.name: t
    for t in [
        Target("floor", "drucker", _floor),
        Target("drucker", "drucker", _drucker()),
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
    ]
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(target: Target, model: Path, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """Launch the server (its output goes to a log file in ``workdir``)."""
    log = (workdir / f"{target.name}.log").open("wb")
    # Metrics on (the default), on a free port rather than 8082, unless the target says.
    env = {**os.environ, "DRUCKER_METRICS_PORT": str(_free_port()), **target.env}
    return subprocess.Popen(
        target.command(model, port, workdir), stdout=log, stderr=log, env=env, cwd=workdir
    )
