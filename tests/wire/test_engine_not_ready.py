"""A server started the KServe way (``STORAGE_URI``, ``--model_dir``) over a model directory with
nothing (or too much) to serve: it stays up and not ready, and says why on every surface.

Each case is a real ``drucker serve`` process started with the arguments KServe's runtime gives
(the bundled model as ``--model``, which must not serve in place of the download).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.management import auth
from tests.polling import http_status, wait_for
from tests.serving import ServeProcess, free_port

NAME = "iris-isvc"
SOURCE = "s3://models/iris/v7"
TOKEN = "k" * 32


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    """The status and body of one HTTP call (an error status is an answer too)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status), reply.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def empty(root: Path) -> tuple[Path, str]:
    directory = root / "mnt-models"
    directory.mkdir()
    return directory, f"--model_dir {directory} is empty: no model to serve"


def missing(root: Path) -> tuple[Path, str]:
    directory = root / "mnt-models"
    return directory, f"--model_dir {directory} is not a directory"


def ambiguous(root: Path) -> tuple[Path, str]:
    directory = root / "mnt-models"
    directory.mkdir()
    (directory / "a.model").write_text("echo-a\n")
    (directory / "b.model").write_text("echo-b\n")
    return directory, f"--model_dir {directory} holds 2 entries (a.model, b.model)"


@pytest.mark.parametrize("layout", [empty, missing, ambiguous])
def test_a_model_directory_without_one_model_starts_the_server_not_ready_saying_why(
    tmp_path: Path, echo_model: Path, layout: Callable[[Path], tuple[Path, str]]
) -> None:
    models, reason = layout(tmp_path)
    port, http_port, metrics_port = free_port(), free_port(), free_port()
    args = ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--model_name", NAME]
    args += [f"--model_dir={models}", "--grpc_port", str(port), "--http_port", str(http_port)]
    args += ["--metrics-port", str(metrics_port)]
    server = ServeProcess(
        args, cwd=tmp_path, env={"STORAGE_URI": SOURCE, "DRUCKER_MANAGEMENT_TOKEN": TOKEN}
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_for(lambda: http_status(base + "/v2/health/live") == 200, "liveness", 30)
        status, body = http("GET", base + "/v2/health/ready")
        assert status == 503
        answer = json.loads(body)
        assert answer["ready"] is False and answer["reason"].startswith(reason)
        status, body = http("GET", f"{base}/v2/models/{NAME}/ready")
        assert status == 503 and json.loads(body)["reason"].startswith(reason)
        status, body = http("GET", f"http://127.0.0.1:{metrics_port}/readyz")
        assert status == 503 and body.startswith(f"not ready: {reason}")
        assert http_status(f"http://127.0.0.1:{metrics_port}/livez") == 200
        infer = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [1]}]}
        status, body = http("POST", f"{base}/v2/models/{NAME}/infer", json.dumps(infer).encode())
        assert status == 503 and json.loads(body)["error"].startswith(f"not ready: {reason}")

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            v2 = pb_grpc.GRPCInferenceServiceStub(channel)
            assert v2.ServerLive(pb.ServerLiveRequest(), timeout=5).live is True
            assert v2.ServerReady(pb.ServerReadyRequest(), timeout=5).ready is False
            assert v2.ModelReady(pb.ModelReadyRequest(name=NAME), timeout=5).ready is False
            request = pb.ModelInferRequest(model_name=NAME)
            tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 1])
            tensor.contents.fp32_contents.append(1.0)
            with pytest.raises(grpc.RpcError) as refused:
                v2.ModelInfer(request, timeout=5)
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            assert reason in (refused.value.details() or "")
            with pytest.raises(grpc.RpcError) as refused_045:  # the Drucker 0.4.5 protocol
                call(channel, Kind.STRING, Kind.STRING, "hello", timeout=5)
            assert refused_045.value.code() is grpc.StatusCode.UNAVAILABLE
            assert reason in (refused_045.value.details() or "")
            health = health_pb2_grpc.HealthStub(channel)
            checked = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert checked.status == health_pb2.HealthCheckResponse.NOT_SERVING
            index = v2.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=auth(TOKEN), timeout=5)
            (row,) = index.models
            assert row.state == "UNAVAILABLE" and row.reason.startswith(reason)
        assert server.process.poll() is None, "the server exited instead of staying not ready"
    finally:
        assert server.terminate() == 0
    records = [json.loads(line) for line in server.stderr.splitlines()]
    errors = [r["short_message"] for r in records if r["level"] == 3]
    assert any(m.startswith(f"not ready: {reason}") and SOURCE in m for m in errors), errors
    assert not any("loaded model" in r["short_message"] for r in records)  # no silent default


def _held_pids(server: ServeProcess, reason: str) -> set[int]:
    """The processes that logged they are held not ready for ``reason`` (a line still being
    written is skipped)."""
    held = set()
    for line in server.stderr.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record["short_message"].startswith(f"not ready: {reason}"):
            held.add(record["pid"])
    return held


def test_every_worker_stays_not_ready_with_the_reason(tmp_path: Path, echo_model: Path) -> None:
    models, reason = empty(tmp_path)
    port, http_port = free_port(), free_port()
    args = ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), f"--model_dir={models}"]
    args += ["--port", str(port), "--http-port", str(http_port), "--workers", "2"]
    server = ServeProcess(args, cwd=tmp_path, env={"STORAGE_URI": SOURCE})
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_for(lambda: http_status(base + "/v2/health/live") == 200, "liveness", 30)
        for _ in range(6):  # a new connection each: the workers share the port
            status, body = http("GET", base + "/v2/health/ready")
            assert status == 503 and json.loads(body)["reason"].startswith(reason)
        # liveness came from the first worker up; the other may still be starting
        wait_for(lambda: len(_held_pids(server, reason)) == 2, "both workers held", 30)
    finally:
        assert server.terminate() == 0
    assert len(_held_pids(server, reason)) == 2, server.stderr


def test_bad_command_line_input_on_the_kserve_path_still_exits_2(tmp_path: Path) -> None:
    models, _ = empty(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "drucker",
            "serve",
            "--plugin",
            ECHO_PLUGIN,
            f"--model_dir={models}",
        ],
        env={**os.environ, "STORAGE_URI": SOURCE, "SELDON_SERVER_HTTP_PORT": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SELDON_SERVER_HTTP_PORT: 'x' is not a port" in result.stderr
