"""A bundle image as a KServe serving runtime, with KServe's own parts playing the cluster.

The model is put in an S3 server (moto); KServe's storage code (``kserve_storage``, what its
storage initializer runs) downloads it into a directory; the image is started exactly as the
generated ServingRuntime and InferenceService say (arguments, environment, ports, the directory
at ``/mnt/models``); the readiness probe's path is polled as the kubelet would; KServe's own REST
and gRPC clients infer; the metrics are read at the annotated port and path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import joblib
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from drucker.cli import main
from tests.clients import assert_matches, run_client
from tests.docker_support import require_docker
from tests.polling import http_status, wait_for
from tests.s3 import running_s3
from tests.serving import free_port

NAME = "iris-isvc"  # the InferenceService's name, which KServe puts in {{.Name}}
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5]], dtype=np.float32)
TOKEN = "k" * 32


def kserve_resources(
    tag: str, store: Path, storage_uri: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``drucker bundle k8s --flavor kserve`` writes for the image."""
    options = ["--flavor", "kserve", "--storage-uri", storage_uri, "--store", str(store)]
    result = CliRunner().invoke(main, ["bundle", "k8s", tag, *options])
    assert result.exit_code == 0, result.output
    runtime, service = yaml.safe_load_all(result.stdout)
    return runtime, service


class Pod(NamedTuple):
    """The runtime's container as KServe starts it, and where its ports are reached."""

    container: Any
    base: str  # V2 REST
    grpc: str
    metrics: str  # the annotated metrics port and path
    probe: str  # the readiness probe's path


def start_pod(docker: Any, tag: str, store: Path, storage_uri: str, models: Path) -> Pod:
    """The image started exactly as the generated ServingRuntime and InferenceService say, with
    ``models`` mounted at ``/mnt/models`` (what the storage initializer left)."""
    runtime, service = kserve_resources(tag, store, storage_uri)
    service["metadata"]["name"] = NAME  # a user's own name for the InferenceService
    (container,) = runtime["spec"]["containers"]
    args = [arg.replace("{{.Name}}", service["metadata"]["name"]) for arg in container["args"]]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {"DRUCKER_MANAGEMENT_TOKEN": TOKEN, "STORAGE_URI": storage_uri}
    metrics_port = int(runtime["spec"]["annotations"]["prometheus.kserve.io/port"])
    metrics_path = runtime["spec"]["annotations"]["prometheus.kserve.io/path"]
    http, grpc_port, metrics = free_port(), free_port(), free_port()
    probe = container["readinessProbe"]["httpGet"]
    started = docker.containers.run(
        tag,
        command=args,
        detach=True,
        environment=env,
        volumes={str(models): {"bind": "/mnt/models", "mode": "ro"}},
        ports={
            f"{probe['port']}/tcp": ("127.0.0.1", http),
            f"{container['ports'][0]['containerPort']}/tcp": ("127.0.0.1", grpc_port),
            f"{metrics_port}/tcp": ("127.0.0.1", metrics),
        },
    )
    return Pod(
        started,
        f"http://127.0.0.1:{http}",
        f"127.0.0.1:{grpc_port}",
        f"http://127.0.0.1:{metrics}{metrics_path}",
        probe["path"],
    )


def test_kserve_downloads_the_model_and_its_clients_infer(
    iris_bundle_image: tuple[str, Path], iris_model: Path, tmp_path: Path
) -> None:
    docker = require_docker()
    tag, store = iris_bundle_image
    with running_s3() as s3:
        bucket = s3.new_bucket()
        boto3.client("s3", endpoint_url=s3.env["AWS_ENDPOINT_URL"]).upload_file(
            str(iris_model), bucket.removeprefix("s3://"), "models/iris/v7/model.joblib"
        )
        storage_uri = f"{bucket}/models/iris/v7"
        from kserve_storage import Storage  # KServe's storage initializer's code

        models = tmp_path / "mnt-models"
        Storage.download(storage_uri, out_dir=str(models))
    assert [p.name for p in models.iterdir()] == ["model.joblib"]
    models.chmod(0o755)
    (models / "model.joblib").chmod(0o644)

    pod = start_pod(docker, tag, store, storage_uri, models)
    try:
        base = pod.base
        wait_for(lambda: http_status(base + pod.probe) == 200, "the readiness probe", 90)
        model = joblib.load(iris_model)
        expected = list(
            zip(
                [str(label) for label in model.predict(ROWS)],
                model.predict_proba(ROWS).max(axis=1).tolist(),
                strict=True,
            )
        )
        rest = run_client("kserve_v2_rest", base, NAME, ROWS)
        assert_matches(rest, ("json", "binary"), expected)
        grpc_answer = run_client("kserve_v2", pod.grpc, NAME, ROWS)
        assert_matches(grpc_answer, ("typed", "raw"), expected)
        with urllib.request.urlopen(pod.metrics) as reply:
            scraped = reply.read().decode()
        assert "drucker_requests_total{" in scraped and "ModelInfer" in scraped
    finally:
        logs = pod.container.logs().decode()[-3000:]
        pod.container.remove(force=True)
    assert "model.joblib" in logs, logs


def test_an_empty_download_leaves_the_pod_live_and_not_ready_with_the_reason(
    iris_bundle_image: tuple[str, Path], tmp_path: Path
) -> None:
    docker = require_docker()
    tag, store = iris_bundle_image
    models = tmp_path / "mnt-models"  # what the storage initializer left of a wrong prefix
    models.mkdir(mode=0o755)
    storage_uri = "s3://models/iris/no-such-version"
    pod = start_pod(docker, tag, store, storage_uri, models)
    whence = f"(downloaded from STORAGE_URI={storage_uri})"
    reason = f"--model_dir /mnt/models is empty: no model to serve {whence}"
    try:
        wait_for(lambda: http_status(pod.base + "/v2/health/live") == 200, "liveness", 90)
        with pytest.raises(urllib.error.HTTPError) as probed:
            urllib.request.urlopen(pod.base + pod.probe, timeout=5)
        assert probed.value.code == 503
        assert json.loads(probed.value.read()) == {"ready": False, "reason": reason}
        tensor = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": ROWS[0].tolist()}
        request = urllib.request.Request(
            f"{pod.base}/v2/models/{NAME}/infer",
            data=json.dumps({"inputs": [tensor]}).encode(),
            headers={"content-type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 503
        assert json.loads(refused.value.read())["error"] == f"not ready: {reason}"
        pod.container.reload()
        assert pod.container.status == "running"
        # Docker copies the container's output to its log asynchronously: poll for the line.
        logged = wait_for(
            lambda: f"not ready: {reason}" in pod.container.logs().decode(), "the log line", 15
        )
        assert logged
    finally:
        logs = pod.container.logs().decode()[-3000:]
        pod.container.remove(force=True)
    assert f"not ready: {reason}" in logs, logs
