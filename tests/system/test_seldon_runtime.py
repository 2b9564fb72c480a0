"""A bundle image as a Seldon Core 2 server, with the agent's side played by a sidecar.

The image is started with exactly the server container's environment of the generated
ServerConfig (its ``SELDON_SERVER_*`` ports, the models directory, no loading at start, the
loopback waiver) and the shared ``/mnt/agent`` volume; a second container in the same network
namespace (as the agent shares the pod's) replays the agent's calls without a token
(:mod:`tests.seldon_agent`): unload what is served, place ``iris_1`` in the models directory,
load it, read the index, infer, unload. From outside the pod's loopback the same rpcs need the
token.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.cli import main
from tests.conftest import REPO
from tests.docker_support import require_docker
from tests.management import auth
from tests.polling import http_status, wait_for
from tests.seldon_agent import expected_predictions
from tests.serving import free_port

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [7.7, 3.0, 6.1, 2.3]])
TOKEN = "z" * 32


def server_container(tag: str, store: Path) -> dict[str, Any]:
    """The server container of what ``drucker bundle k8s --flavor seldon`` writes."""
    options = ["--flavor", "seldon", "--storage-uri", "s3://models/iris", "--store", str(store)]
    result = CliRunner().invoke(main, ["bundle", "k8s", tag, *options])
    assert result.exit_code == 0, result.output
    server_config = next(yaml.safe_load_all(result.stdout))
    (container,) = [c for c in server_config["spec"]["podSpec"]["containers"] if c["image"] == tag]
    return dict(container)


def test_the_agents_calls_drive_the_image_from_inside_its_pod(
    iris_bundle_image: tuple[str, Path], iris_model: Path, tmp_path: Path
) -> None:
    docker = require_docker()
    tag, store = iris_bundle_image
    container = server_container(tag, store)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env["DRUCKER_MANAGEMENT_TOKEN"] = TOKEN  # the secretKeyRef's value
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (agent_mount,) = [m for m in container["volumeMounts"] if m["name"] == "agent"]
    shared = tmp_path / "agent"  # the pod's emptyDir at /mnt/agent
    (shared / "models").mkdir(parents=True)
    for path in (shared, shared / "models"):
        path.chmod(0o777)  # written by the agent, another user than this test's
    artifacts = tmp_path / "rclone"  # what rclone downloaded
    artifacts.mkdir()
    shutil.copy(iris_model, artifacts / "model.joblib")
    for path in (artifacts, artifacts / "model.joblib"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    grpc_port, http_port = free_port(), free_port()
    server = docker.containers.run(
        tag,
        detach=True,
        environment=env,
        volumes={str(shared): {"bind": agent_mount["mountPath"], "mode": "ro"}},
        ports={
            f"{ports['server-grpc']}/tcp": ("127.0.0.1", grpc_port),
            f"{ports['server-http']}/tcp": ("127.0.0.1", http_port),
        },
    )
    try:
        probe = container["readinessProbe"]["httpGet"]["path"]
        wait_for(lambda: http_status(f"http://127.0.0.1:{http_port}{probe}") == 200, "ready", 90)
        models = f"{agent_mount['mountPath']}/models"
        output = docker.containers.run(
            tag,
            entrypoint=["/opt/venv/bin/python", "-m", "tests.seldon_agent"],
            command=[
                f"127.0.0.1:{ports['server-grpc']}",
                models,
                "/rclone/model.joblib",
                json.dumps(ROWS.tolist()),
            ],
            network_mode=f"container:{server.id}",  # the pod's network: the agent's loopback
            volumes={
                str(REPO / "tests"): {"bind": "/agent/tests", "mode": "ro"},
                str(shared): {"bind": agent_mount["mountPath"], "mode": "rw"},
                str(artifacts): {"bind": "/rclone", "mode": "ro"},
            },
            working_dir="/agent",
            environment={"PYTHONPATH": "/agent"},
            remove=True,
        )
        steps = json.loads(output.decode().strip().splitlines()[-1])
        outside = _outside_answers(f"127.0.0.1:{grpc_port}")
    finally:
        logs = server.logs().decode()[-4000:]
        server.remove(force=True)
    assert steps["unloaded_at_start"] == [] and steps["index_at_start"] == {}, logs
    assert steps["index_placed"] == {"iris_1": "UNAVAILABLE"}
    assert steps["index_loaded"] == {"iris_1": "READY"}
    labels, scores = expected_predictions(iris_model, ROWS.astype(np.float32))
    assert steps["labels"] == labels
    assert steps["scores"] == pytest.approx(scores, abs=1e-6)
    assert steps["index_unloaded"].get("iris_1") != "READY"
    assert steps["folder_left"] is False
    assert steps["infer_unloaded"] == "NOT_FOUND"
    assert outside == {"without": "UNAUTHENTICATED", "with": "OK"}
    assert "repository_loopback_without_token" in logs  # the waiver is announced at start


def _outside_answers(target: str) -> dict[str, str]:
    """``RepositoryIndex`` from outside the pod (through Docker's port mapping), without and
    with the token."""
    answers = {}
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for key, metadata in (("without", []), ("with", auth(TOKEN))):
            try:
                stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=metadata, timeout=10)
                answers[key] = "OK"
            except grpc.RpcError as error:
                answers[key] = error.code().name
    return answers
