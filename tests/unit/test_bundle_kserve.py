"""``drucker bundle k8s --flavor kserve``: a ServingRuntime and an InferenceService that KServe's
own CRD schemas accept, and the KServe start-up arguments ``drucker serve`` understands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drucker.bundle.store import BundleStore
from drucker.cli import main
from drucker.cli.engines import model_in_directory
from drucker.errors import ConfigurationError
from tests.bundle_support import stored_bundle
from tests.crd_schemas import crd_errors as kserve_errors
from tests.unit.test_bundle_k8s import restricted_violations


def kserve(store: BundleStore, tag: str, *options: str) -> Any:
    return CliRunner().invoke(
        main, ["bundle", "k8s", tag, "--store", str(store.root), "--flavor", "kserve", *options]
    )


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BundleStore, str]:
    store = BundleStore(tmp_path / "store")
    return store, stored_bundle(store, tmp_path / "project", monkeypatch, "drucker")


@pytest.mark.parametrize("scoped", [False, True])
def test_the_runtime_and_inference_service_validate_against_kserves_schemas(
    bundle: tuple[BundleStore, str], scoped: bool
) -> None:
    store, tag = bundle
    options = ["--storage-uri", "s3://models/iris/v1", *(["--cluster-scoped"] if scoped else [])]
    result = kserve(store, tag, *options)
    assert result.exit_code == 0, result.output
    runtime, service = list(yaml.safe_load_all(result.stdout))
    assert runtime["kind"] == ("ClusterServingRuntime" if scoped else "ServingRuntime")
    assert service["kind"] == "InferenceService"
    assert kserve_errors(runtime) == [] and kserve_errors(service) == []
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["args"] == [
        "--model_name={{.Name}}",
        "--model_dir=/mnt/models",
        "--http_port=8080",
        "--grpc_port=8081",
    ]
    assert container["ports"] == [{"name": "h2c", "containerPort": 8081, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert runtime["spec"]["protocolVersions"] == ["v2", "grpc-v2"]
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/port"] == "8082"
    model = service["spec"]["predictor"]["model"]
    assert model["storageUri"] == "s3://models/iris/v1"
    assert model["modelFormat"]["name"] == runtime["spec"]["supportedModelFormats"][0]["name"]
    annotations = service["metadata"]["annotations"]
    assert annotations["serving.kserve.io/enable-prometheus-scraping"] == "true"
    pod = {"containers": [container], "volumes": runtime["spec"]["volumes"]}
    assert restricted_violations(pod) == []


def test_the_validator_refuses_a_wrong_field(bundle: tuple[BundleStore, str]) -> None:
    store, tag = bundle
    runtime, service = list(yaml.safe_load_all(kserve(store, tag).stdout))
    runtime["spec"]["containers"][0]["argz"] = ["--oops"]
    service["spec"]["predictor"]["model"]["storageUri"] = 7
    assert any("argz" in error for error in kserve_errors(runtime))
    assert any("storageUri" in error for error in kserve_errors(service))


def test_without_a_storage_uri_the_bundled_model_serves(bundle: tuple[BundleStore, str]) -> None:
    store, tag = bundle
    _, service = list(yaml.safe_load_all(kserve(store, tag).stdout))
    assert "storageUri" not in service["spec"]["predictor"]["model"]
    assert kserve_errors(service) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--storage-uri", "ftp://host/model"], "KServe's storage initializer fetches only"),
        (["--flavor", "triton"], "'triton' is not one of"),
    ],
)
def test_bad_kserve_options_exit_2_with_a_message(
    bundle: tuple[BundleStore, str], options: list[str], message: str
) -> None:
    store, tag = bundle
    result = kserve(store, tag, *options)
    assert result.exit_code == 2 and message in result.output


def test_storage_uri_needs_the_kserve_flavor(bundle: tuple[BundleStore, str]) -> None:
    store, tag = bundle
    result = CliRunner().invoke(
        main, ["bundle", "k8s", tag, "--store", str(store.root), "--storage-uri", "s3://m/x"]
    )
    assert result.exit_code == 2 and "goes with --flavor kserve or seldon" in result.output


def test_the_model_directory_kserve_downloaded_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_URI", raising=False)
    models = tmp_path / "mnt-models"
    assert model_in_directory(str(models), "/bundle/model.bin") == "/bundle/model.bin"
    models.mkdir()
    monkeypatch.setenv("STORAGE_URI", "s3://models/iris")
    with pytest.raises(ConfigurationError, match=r"is empty.*STORAGE_URI=s3://models/iris"):
        model_in_directory(str(models), "/bundle/model.bin")
    (models / "iris.joblib").write_bytes(b"x")
    (models / ".keep").write_bytes(b"")
    assert model_in_directory(str(models), "/bundle/model.bin") == str(models / "iris.joblib")
    (models / "other.joblib").write_bytes(b"y")
    with pytest.raises(ConfigurationError, match="holds 2 entries"):
        model_in_directory(str(models), "/bundle/model.bin")
    (models / "model.bin").write_bytes(b"z")
    assert model_in_directory(str(models), "/bundle/model.bin") == str(models / "model.bin")
    monkeypatch.setenv("STORAGE_URI", "s3://models/missing")
    with pytest.raises(ConfigurationError, match="is not a directory"):
        model_in_directory(str(tmp_path / "absent"), "/bundle/model.bin")
