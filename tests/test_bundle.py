"""Bundles without Docker: the spec, reproducible versions, the store, export/import, k8s."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import yaml
from click.testing import CliRunner

from drucker.bundle.build import assemble
from drucker.bundle.k8s import manifests
from drucker.bundle.spec import load_spec
from drucker.bundle.store import BundleStore
from drucker.cli import main
from drucker.errors import ConfigurationError, NotFoundError
from tests.conftest import REPO

IRIS = REPO / "examples" / "iris"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Path:
    """A copy of the iris example project with a trained model."""
    root = tmp_path_factory.mktemp("project")
    for name in ("bundle.yaml", "settings.yml"):
        shutil.copy(IRIS / name, root / name)
    (root / "model" / "iris").mkdir(parents=True)
    shutil.copy(iris_model, root / "model" / "iris" / "iris.joblib")
    return root


@pytest.fixture(scope="module")
def built(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BundleStore, str]]:
    store = BundleStore(tmp_path_factory.mktemp("store"))
    result = assemble(project, store)
    yield store, result.manifest.tag


def write_spec(directory: Path, text: str) -> Path:
    (directory / "plugin.py").write_text("import drucker\n")
    (directory / "bundle.yaml").write_text(text)
    return directory


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nplugin: plugin.py\ncolour: red\n", "unknown key 'colour'"),
        ("plugin: plugin.py\n", "missing key 'name'"),
        ("name: Not_Valid\nplugin: plugin.py\n", "key 'name'"),
        ("name: x\nplugin: absent.py\n", "key 'plugin': absent.py does not exist"),
        ("name: x\nplugin: plugin.py\nmodel: m.bin\n", "key 'model': m.bin does not exist"),
        ("name: x\nplugin: plugin.py\nport: many\n", "key 'port'"),
        ("name: x\nplugin: plugin.py\nenv: {A: 1}\n", "key 'env'"),
        ("name: x\nplugin: plugin.py\ninclude: ['*.csv']\n", "*.csv matches no file"),
        ("name: x\nplugin: ../plugin.py\n", "must be inside the project"),
    ],
)
def test_spec_errors_name_the_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    write_spec(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_spec(tmp_path)
    assert message in str(caught.value)
    assert str(tmp_path / "bundle.yaml") in str(caught.value)


def test_same_inputs_same_version_and_a_byte_changes_it(
    project: Path, built: tuple[BundleStore, str], tmp_path: Path
) -> None:
    store, tag = built
    again = assemble(project, store)
    assert again.manifest.tag == tag and not again.created
    changed = tmp_path / "changed"
    shutil.copytree(project, changed)
    model = changed / "model" / "iris" / "iris.joblib"
    model.write_bytes(model.read_bytes() + b"\0")
    other = assemble(changed, store)
    assert other.created and other.manifest.version != again.manifest.version
    assert other.manifest.digest != again.manifest.digest


def test_manifest_pins_packages_and_files(built: tuple[BundleStore, str]) -> None:
    store, tag = built
    path, manifest = store.get(tag)
    names = {package.name for package in manifest.packages}
    assert {"drucker", "grpcio", "protobuf", "scikit-learn", "numpy"} <= names
    assert all(len(package.sha256) == 64 for package in manifest.packages)
    assert manifest.files["model/iris.joblib"]
    lock = (path / "requirements.lock").read_text().splitlines()
    assert all(" --hash=sha256:" in line for line in lock)
    dockerfile = (path / "Dockerfile").read_text()
    assert "--no-index" in dockerfile and "--require-hashes" in dockerfile
    assert dockerfile.index("COPY wheelhouse/") < dockerfile.index("COPY model/")
    assert "USER 10001" in dockerfile and "HEALTHCHECK" in dockerfile
    assert f'"org.opencontainers.image.version"="{manifest.version}"' in dockerfile


def test_export_import_reproduces_the_digest_and_refuses_tampering(
    built: tuple[BundleStore, str], tmp_path: Path
) -> None:
    store, tag = built
    archive = tmp_path / "iris.tar.gz"
    manifest = store.export(tag, archive)
    fresh = BundleStore(tmp_path / "fresh")
    assert fresh.import_archive(archive).digest == manifest.digest
    assert fresh.get(tag)[1].digest == manifest.digest

    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(tampered, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member)
            content = data.read() if data else b""
            if member.name == "model/iris.joblib":
                content = content[:-1] + bytes([content[-1] ^ 1])
            member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    with pytest.raises(ConfigurationError, match=r"model/iris\.joblib is changed"):
        BundleStore(tmp_path / "other").import_archive(tampered)
    assert not (tmp_path / "other" / "iris").exists()


def test_store_verbs_through_the_cli(built: tuple[BundleStore, str], tmp_path: Path) -> None:
    store, tag = built
    runner = CliRunner()
    root = ["--store", str(store.root)]
    listed = runner.invoke(main, ["bundle", "list", *root])
    assert tag in listed.output
    shown = runner.invoke(main, ["bundle", "show", tag.split(":")[0], *root])
    assert json.loads(shown.output)["name"] == "iris"
    archive = tmp_path / "cli.tar.gz"
    assert runner.invoke(main, ["bundle", "export", tag, str(archive), *root]).exit_code == 0
    other = ["--store", str(tmp_path / "second")]
    imported = runner.invoke(main, ["bundle", "import", str(archive), *other])
    assert imported.output.strip() == tag
    deleted = runner.invoke(main, ["bundle", "delete", tag, *other])
    assert deleted.exit_code == 0
    with pytest.raises(NotFoundError):
        BundleStore(tmp_path / "second").get(tag)
    missing = runner.invoke(main, ["bundle", "show", "iris:nope", *other])
    assert missing.exit_code == 2 and "no bundle iris:nope" in missing.output


def test_kubernetes_manifests_validate(built: tuple[BundleStore, str], tmp_path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    from kubernetes_validate.utils import latest_version

    store, tag = built
    output = tmp_path / "k8s.yaml"
    result = CliRunner().invoke(
        main, ["bundle", "k8s", tag, "-o", str(output), "--store", str(store.root)]
    )
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(output.read_text()))
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for document in documents:
        kubernetes_validate.validate(document, latest_version(), strict=True)
    deployment, service, _ = documents
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = spec["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["grpc"]["port"] == 5000
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert {"name": "http", "containerPort": 8080} in container["ports"]
    assert [p["name"] for p in service["spec"]["ports"]] == ["grpc", "metrics", "http"]
    assert container["image"] == tag
    assert service["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"
    # The metrics port, named and announced to Prometheus' pod discovery.
    assert container["ports"][1] == {"name": "metrics", "containerPort": 8082}
    assert service["spec"]["ports"][1]["targetPort"] == "metrics"
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8082"
    assert annotations["prometheus.io/path"] == "/metrics"
    without_http = attrs.evolve(store.get(tag)[1], env={"DRUCKER_HTTP_PORT": "0"})
    plain = manifests(without_http)[0]["spec"]["template"]["spec"]["containers"][0]
    assert [p["name"] for p in plain["ports"]] == ["grpc", "metrics"]
    assert plain["readinessProbe"]["grpc"]["port"] == 5000
    shared = tmp_path / "shared.yaml"
    result = CliRunner().invoke(
        main,
        [
            *("bundle", "k8s", tag, "-o", str(shared), "--store", str(store.root)),
            *("--store-url", "s3://models/iris", "--store-secret", "iris-s3"),
        ],
    )
    assert result.exit_code == 0, result.output
    deployment = next(yaml.safe_load_all(shared.read_text()))
    kubernetes_validate.validate(deployment, latest_version(), strict=True)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["DRUCKER_STORE_URL"]["value"] == "s3://models/iris"
    assert "value" not in env["DRUCKER_MANAGEMENT_TOKEN"]  # from a Secret, never inlined
    assert container["envFrom"] == [{"secretRef": {"name": "iris-s3"}}]
    assert pod["volumes"][0]["emptyDir"] == {}
    assert container["volumeMounts"][0]["mountPath"] == env["DRUCKER_STORE_CACHE_DIR"]["value"]
    assert "AWS_SECRET_ACCESS_KEY" not in shared.read_text()
    broken = manifests(store.get(tag)[1])[0]
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)
