"""``drucker bundle k8s --flavor seldon``: a ServerConfig, a Server and Models that Seldon Core 2's
own CRD schemas accept; every flavor's manifests validated; the Seldon start-up ``drucker
serve`` understands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

import drucker.bundle.build as build_module
from drucker.bundle.seldon import seldon_manifests
from drucker.bundle.store import BundleStore
from drucker.cli import main
from drucker.cli.engines import seldon_ports
from drucker.errors import ConfigurationError
from tests.bundle_support import PLAIN_KINDS, stored_bundle, validated_kinds
from tests.crd_schemas import FILES, crd_errors
from tests.unit.test_bundle_k8s import a_manifest, restricted_violations


def k8s(store: BundleStore, tag: str, *options: str) -> Result:
    return CliRunner().invoke(main, ["bundle", "k8s", tag, "--store", str(store.root), *options])


def seldon(store: BundleStore, tag: str, *options: str) -> list[dict[str, Any]]:
    result = k8s(store, tag, "--flavor", "seldon", *options)
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.stdout))


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BundleStore, str]:
    store = BundleStore(tmp_path / "store")
    return store, stored_bundle(store, tmp_path / "project", monkeypatch, "drucker")


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_the_server_config_server_and_models_validate_against_seldons_schemas(
    bundle: tuple[BundleStore, str],
) -> None:
    store, tag = bundle
    options = ["--storage-uri", "s3://models/iris/v1", "--storage-uri", "iris-b=gs://m/iris/2"]
    server_config, server, *models = seldon(store, tag, *options, "--replicas", "3")
    assert [server_config["kind"], server["kind"]] == ["ServerConfig", "Server"]
    for resource in (server_config, server, *models):
        assert crd_errors(resource) == [], resource["kind"]
    pod = server_config["spec"]["podSpec"]
    assert restricted_violations(pod) == []
    validated_kinds(
        [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "iris"}, "spec": pod}]
    )
    rclone, agent, drucker = pod["containers"]
    assert (rclone["name"], agent["name"], drucker["name"]) == ("rclone", "agent", "drucker")
    assert rclone["image"] == "docker.io/seldonio/seldon-rclone:2.10.1"
    assert agent["image"] == "docker.io/seldonio/seldon-agent:2.10.1"
    assert drucker["image"] == tag
    for container in (rclone, agent, drucker):  # the shared volume the agent places models in
        assert {"agent": "/mnt/agent"}.items() <= {
            m["name"]: m["mountPath"] for m in container["volumeMounts"]
        }.items()
    assert {"name": "agent", "emptyDir": {}} in pod["volumes"]
    assert pod["serviceAccountName"] == "seldon-server"  # the agent reads rclone Secrets
    agent_env, server_env = _env(agent), _env(drucker)
    for key in ("SELDON_SERVER_HTTP_PORT", "SELDON_SERVER_GRPC_PORT"):
        assert agent_env[key] == server_env[key]
    assert agent_env["SELDON_SERVER_TYPE"] == "mlserver"
    assert server_env["DRUCKER_REPOSITORY_MODELS_DIR"] == "/mnt/agent/models"
    assert server_env["DRUCKER_APP_LOAD_MODELS_AT_STARTUP"] == "false"
    assert server_env["DRUCKER_MANAGEMENT_REPOSITORY_LOOPBACK_WITHOUT_TOKEN"] == "true"
    ports = {p["name"]: p["containerPort"] for p in drucker["ports"]}
    assert ports["server-grpc"] == int(server_env["SELDON_SERVER_GRPC_PORT"])
    assert ports["server-http"] == int(server_env["SELDON_SERVER_HTTP_PORT"])
    assert server["spec"] == {
        "serverConfig": "iris",
        "capabilities": ["drucker-iris"],
        "replicas": 3,
    }
    assert [(m["metadata"]["name"], m["spec"]["storageUri"]) for m in models] == [
        ("iris", "s3://models/iris/v1"),
        ("iris-b", "gs://m/iris/2"),
    ]
    assert all(
        set(m["spec"]["requirements"]) <= set(server["spec"]["capabilities"]) for m in models
    )


def test_images_and_the_storage_secret_are_options(bundle: tuple[BundleStore, str]) -> None:
    store, tag = bundle
    options = ["--agent-image", "reg/agent:2.9", "--rclone-image", "reg/rclone:2.9"]
    options += ["--storage-uri", "s3://m/x", "--storage-secret", "s3-rclone", "--image", "reg/i:1"]
    server_config, _, model = seldon(store, tag, *options)
    images = [c["image"] for c in server_config["spec"]["podSpec"]["containers"]]
    assert images == ["reg/rclone:2.9", "reg/agent:2.9", "reg/i:1"]
    assert model["spec"]["secretName"] == "s3-rclone"
    assert crd_errors(model) == []


def test_a_first_party_plugin_adds_the_framework_the_agent_writes_model_settings_for() -> None:
    _, server, model = seldon_manifests(a_manifest(), storage_uris=("s3://m/iris",))
    assert server["spec"]["capabilities"] == ["drucker-iris", "sklearn"]
    assert model["spec"]["requirements"] == ["drucker-iris", "sklearn"]


@pytest.mark.parametrize("flavor", ["plain", "kserve", "seldon"])
def test_every_manifest_of_every_flavor_validates(
    bundle: tuple[BundleStore, str], flavor: str
) -> None:
    store, tag = bundle
    options = {"plain": ["--max-replicas", "1", "--replicas", "1"], "kserve": [], "seldon": []}
    uri = [] if flavor == "plain" else ["--storage-uri", "s3://models/iris"]
    result = k8s(store, tag, "--flavor", flavor, *options[flavor], *uri)
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    engine = [d for d in documents if (d["apiVersion"], d["kind"]) in FILES]
    core = [d for d in documents if d not in engine]
    assert [crd_errors(d) for d in engine] == [[] for _ in engine]
    kinds = validated_kinds(core)
    assert kinds == (PLAIN_KINDS if flavor == "plain" else [])
    assert len(engine) == {"plain": 0, "kserve": 2, "seldon": 3}[flavor]


def test_the_validator_refuses_wrong_fields(bundle: tuple[BundleStore, str]) -> None:
    store, tag = bundle
    server_config, server, model = seldon(store, tag, "--storage-uri", "s3://m/x")
    server_config["spec"]["podSpec"]["containers"][2]["imagee"] = "oops"
    server["spec"]["capability"] = ["x"]
    model["spec"]["storageUri"] = 7
    del server["spec"]["serverConfig"]
    assert any("imagee" in error for error in crd_errors(server_config))
    server_errors = crd_errors(server)
    assert any("capability" in error for error in server_errors)
    assert any("serverConfig" in error for error in server_errors)
    assert any("storageUri" in error for error in crd_errors(model))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "--flavor seldon needs --storage-uri"),
        (["--storage-uri", "ftp://host/model"], "Seldon's rclone fetches only"),
        (["--storage-uri", "file:///models/iris"], "Seldon's rclone fetches only"),
        (["--storage-uri", "Iris_B=s3://m/x"], "'Iris_B' is not a Model name"),
        (["--storage-uri", "s3://m/a", "--storage-uri", "s3://m/b"], "'iris' is given twice"),
        (["--cluster-scoped"], "--cluster-scoped goes with --flavor kserve"),
    ],
)
def test_bad_seldon_options_exit_2_with_a_message(
    bundle: tuple[BundleStore, str], options: list[str], message: str
) -> None:
    store, tag = bundle
    result = k8s(store, tag, "--flavor", "seldon", *options)
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--flavor", "triton"], "'triton' is not one of 'plain', 'kserve', 'seldon'"),
        (["--agent-image", "a:1"], "go with --flavor seldon"),
        (["--flavor", "kserve", "--storage-secret", "s"], "--storage-secret goes with"),
        (["--flavor", "kserve", "--storage-uri", "s3://a", "--storage-uri", "s3://b"], "one"),
    ],
)
def test_options_of_another_flavor_exit_2(
    bundle: tuple[BundleStore, str], options: list[str], message: str
) -> None:
    store, tag = bundle
    result = k8s(store, tag, *options)
    assert result.exit_code == 2 and message in result.output, result.output


def test_the_command_refuses_a_bundle_whose_server_lacks_the_repository_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_module, "__version__", "0.4.5")
    store = BundleStore(tmp_path / "store")
    tag = stored_bundle(store, tmp_path / "project", monkeypatch, "drucker")
    result = k8s(store, tag, "--flavor", "seldon", "--storage-uri", "s3://m/x")
    assert result.exit_code == 2
    assert "built with drucker 0.4.5, whose server lacks what Seldon's agent calls" in result.output


@pytest.mark.parametrize("version", ["0.4.5", "0.4.99", "not-a-version"])
def test_a_bundle_whose_server_lacks_the_repository_api_is_refused(version: str) -> None:
    with pytest.raises(ConfigurationError, match=f"built with drucker {version}.*>= 0.5.0"):
        seldon_manifests(a_manifest(drucker_version=version), storage_uris=("s3://m/x",))
    assert seldon_manifests(a_manifest(drucker_version="0.5.0"), storage_uris=("s3://m/x",))


def test_seldons_server_ports_come_from_its_environment() -> None:
    assert seldon_ports({}) == (None, None)
    environ = {"SELDON_SERVER_GRPC_PORT": "9500", "SELDON_SERVER_HTTP_PORT": "9000"}
    assert seldon_ports(environ) == (9500, 9000)
    for bad in ("http", "0", "70000", "-1"):
        with pytest.raises(ConfigurationError, match=f"SELDON_SERVER_HTTP_PORT: '{bad}'"):
            seldon_ports({"SELDON_SERVER_HTTP_PORT": bad})


def test_serve_stops_with_exit_2_on_a_bad_seldon_port() -> None:
    result = CliRunner().invoke(main, ["serve"], env={"SELDON_SERVER_GRPC_PORT": "ninety"})
    assert result.exit_code == 2
    assert "SELDON_SERVER_GRPC_PORT: 'ninety' is not a port" in result.output
