"""Bundles without Docker: the spec, reproducible versions, the store, export/import, k8s."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import attrs
import packaging.tags
import pytest
import yaml
from click.testing import CliRunner
from packaging.utils import parse_wheel_filename

from drucker.bundle.build import assemble, choose_target
from drucker.bundle.k8s import manifests, render
from drucker.bundle.spec import load_spec
from drucker.bundle.store import BundleStore
from drucker.bundle.target import Target
from drucker.bundle.wheels import PinnedPackage, index_settings, resolution_key, sha256_file
from drucker.cli import main
from drucker.errors import ConfigurationError, NotFoundError
from tests.bundle_support import PLAIN_KINDS, validated_kinds
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
    sizes = [
        *("--replicas", "3", "--cpu", "250m", "--memory", "300Mi", "--token-secret", "iris-t"),
        "--separate-stores",
    ]
    result = CliRunner().invoke(
        main, ["bundle", "k8s", tag, "-o", str(output), "--store", str(store.root), *sizes]
    )
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert "&id" not in text and "*id" not in text  # no YAML anchors or aliases
    documents = list(yaml.safe_load_all(text))
    assert validated_kinds(documents) == PLAIN_KINDS
    _, deployment, service, autoscaler, budget = documents
    spec = deployment["spec"]
    assert "replicas" not in spec and autoscaler["spec"]["minReplicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = spec["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["grpc"]["port"] == 5000
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert {"name": "http", "containerPort": 8080} in container["ports"]
    assert [p["name"] for p in service["spec"]["ports"]] == ["grpc", "metrics", "http"]
    assert container["image"] == tag
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "300Mi"}
    assert container["env"] == [
        {
            "name": "DRUCKER_MANAGEMENT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "iris-t", "key": "token"}},
        }
    ]
    assert service["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"
    # The metrics port, named and announced to Prometheus' pod discovery.
    assert container["ports"][1] == {"name": "metrics", "containerPort": 8082}
    assert service["spec"]["ports"][1]["targetPort"] == "metrics"
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8082"
    assert annotations["prometheus.io/path"] == "/metrics"
    without_http = attrs.evolve(store.get(tag)[1], env={"DRUCKER_HTTP_PORT": "0"})
    plain = manifests(without_http)[1]["spec"]["template"]["spec"]["containers"][0]
    assert [p["name"] for p in plain["ports"]] == ["grpc", "metrics"]
    assert plain["readinessProbe"]["grpc"]["port"] == 5000
    assert budget["spec"]["selector"] == spec["selector"]
    shared = tmp_path / "shared.yaml"
    result = CliRunner().invoke(
        main,
        [
            *("bundle", "k8s", tag, "-o", str(shared), "--store", str(store.root)),
            *("--store-url", "s3://models/iris", "--store-secret", "iris-s3"),
        ],
    )
    # The iris bundle has no drucker[s3]: its pods could not open the store.
    assert result.exit_code == 2 and "add 'drucker[s3]'" in result.stderr
    assert not shared.exists()
    with_s3 = attrs.evolve(
        store.get(tag)[1],
        packages=[
            *store.get(tag)[1].packages,
            PinnedPackage("s3fs", "1", "s3fs-1-py3-none-any.whl", "0" * 64),
        ],
    )
    resources = manifests(with_s3, store_url="s3://models/iris", store_secret="iris-s3")
    shared.write_text(render(resources))
    deployment = list(yaml.safe_load_all(shared.read_text()))[1]
    kubernetes_validate.validate(deployment, latest_version(), strict=True)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["DRUCKER_STORE_URL"]["value"] == "s3://models/iris"
    assert "value" not in env["DRUCKER_MANAGEMENT_TOKEN"]  # from a Secret, never inlined
    assert container["envFrom"] == [{"secretRef": {"name": "iris-s3"}}]
    assert pod["volumes"][-1] == {"name": "model-cache", "emptyDir": {}}
    assert container["volumeMounts"][-1]["mountPath"] == env["DRUCKER_STORE_CACHE_DIR"]["value"]
    assert "AWS_SECRET_ACCESS_KEY" not in shared.read_text()
    broken = manifests(store.get(tag)[1])[1]
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


@pytest.fixture(scope="module")
def small_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with no requirements of its own: only drucker and its dependencies."""
    root = tmp_path_factory.mktemp("small")
    write_spec(root, "name: small\nplugin: plugin.py\n")
    return root


@pytest.mark.parametrize(
    ("target", "foreign_tag"),
    [(Target("3.12"), "cp312"), (Target("3.11", "linux/arm64"), "aarch64")],
    ids=["python-3.12", "linux-arm64"],
)
def test_wheels_are_resolved_for_the_target_not_the_host(
    small_project: Path, tmp_path: Path, target: Target, foreign_tag: str
) -> None:
    store = BundleStore(tmp_path / "store")
    result = assemble(small_project, store, target=target)
    manifest = result.manifest
    assert (manifest.python, manifest.platform) == (target.python, target.platform)
    host = set(packaging.tags.sys_tags())
    accepted = target.tags()
    foreign = []
    for package in manifest.packages:
        wheel_tags = parse_wheel_filename(package.filename)[3]
        assert wheel_tags & accepted, package.filename
        if foreign_tag in package.filename:
            foreign.append(package.name)
            assert not wheel_tags & host, f"{package.filename} installs on this host"
    assert {"numpy", "grpcio"} <= set(foreign)  # compiled for the target, not this host
    lock = (result.path / "requirements.lock").read_text()
    for package in manifest.packages:
        assert f"{package.name}=={package.version} --hash=sha256:{package.sha256}" in lock
        wheel = result.path / "wheelhouse" / package.filename
        assert sha256_file(wheel) == package.sha256


@pytest.fixture(scope="module")
def small_built(
    small_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BundleStore, str, list[str]]:
    """The small project built for CPython 3.11 amd64: store, tag and progress messages."""
    store = BundleStore(tmp_path_factory.mktemp("small-store"))
    messages: list[str] = []
    result = assemble(small_project, store, target=Target("3.11"), progress=messages.append)
    return store, result.manifest.tag, messages


def test_a_resolution_is_reused_until_its_inputs_change(
    small_project: Path, small_built: tuple[BundleStore, str, list[str]]
) -> None:
    store, tag, messages = small_built
    assert any("resolving" in m for m in messages) and any("fetching" in m for m in messages)
    again: list[str] = []
    result = assemble(small_project, store, target=Target("3.11"), progress=again.append)
    assert result.manifest.tag == tag and not result.created
    assert any("reusing the wheels" in m for m in again)
    assert not any("fetching" in m for m in again)

    index = index_settings()
    key = resolution_key([], Target("3.11"), "wheel", index)
    assert (store.cache_dir / "resolutions" / key[:32]).is_dir() is False  # another wheel digest
    changed = [
        resolution_key(["threadpoolctl"], Target("3.11"), "wheel", index),
        resolution_key([], Target("3.12"), "wheel", index),
        resolution_key([], Target("3.11", "linux/arm64"), "wheel", index),
        resolution_key([], Target("3.11"), "other wheel", index),
        resolution_key([], Target("3.11"), "wheel", {**index, "PIP_INDEX_URL": "http://x"}),
    ]
    assert len({key, *changed}) == 6


def test_the_target_comes_from_the_image_name_or_is_asked_for(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, "name: x\nplugin: plugin.py\nplatform: linux/arm64\n"))
    assert choose_target(spec, "python:3.12-slim") == Target("3.12", "linux/arm64")
    assert choose_target(spec, "drucker-base:bookworm-py311").python == "3.11"
    assert choose_target(spec, "x", image_python="3.13", image_glibc="2.31").glibc == "2.31"
    with pytest.raises(ConfigurationError, match="which Python does debian:12 have"):
        choose_target(spec, "debian:12")
    with pytest.raises(ConfigurationError, match=r"asks for Python 3\.12.*has Python 3\.11"):
        choose_target(spec, "x", python="3.12", image_python="3.11")
    with pytest.raises(ConfigurationError, match="key 'platform'"):
        load_spec(write_spec(tmp_path, "name: x\nplugin: plugin.py\nplatform: windows\n"))


def test_build_checks_docker_before_resolving_anything(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An engine that cannot exist: a socket path in an empty directory.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    store = tmp_path / "store"
    result = CliRunner().invoke(main, ["bundle", "build", str(project), "--store", str(store)])
    assert result.exit_code == 2
    assert "no Docker engine is reachable" in result.stderr and "--no-image" in result.stderr
    assert not (store / ".cache").exists()


def test_build_without_bundle_yaml_names_the_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bundle", "build", str(tmp_path), "--no-image"])
    assert result.exit_code == 2
    assert f"no bundle.yaml in {tmp_path.resolve()}" in result.stderr
    assert "drucker bundle init" in result.stderr


def test_export_is_byte_identical_whatever_the_name_and_streams(
    small_built: tuple[BundleStore, str, list[str]], tmp_path: Path
) -> None:
    store, tag, _ = small_built
    first, second = tmp_path / "a.tar.gz", tmp_path / "deeper" / "other-name.tgz"
    store.export(tag, first)
    store.export(tag, second)
    assert first.read_bytes() == second.read_bytes()

    # A bundle with a 48 MB model is written without holding it (or the archive) in memory.
    big = tmp_path / "big"
    big.mkdir()
    write_spec(big, "name: big\nplugin: plugin.py\nmodel: model.bin\n")
    with (big / "model.bin").open("wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(1 << 20))
    big_tag = assemble(big, store, target=Target("3.11")).manifest.tag  # the cached wheels
    tracemalloc.start()
    try:
        store.export(big_tag, tmp_path / "big.tar.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"export held {peak / 2**20:.1f} MiB"
    assert not list(tmp_path.glob(".*.partial"))


def test_bundle_init_writes_a_project_that_serves_and_validates(tmp_path: Path) -> None:
    directory = tmp_path / "my-model"
    result = CliRunner().invoke(main, ["bundle", "init", str(directory)])
    assert result.exit_code == 0, result.output
    spec = load_spec(directory)
    assert spec.name == "my-model" and spec.plugin == "plugin.py"
    again = CliRunner().invoke(main, ["bundle", "init", str(directory)])
    assert again.exit_code == 2 and "nothing was written" in again.stderr

    from drucker.client import Client
    from tests.serving import ThreadedServer

    assert spec.model is not None
    plugin = str(directory / spec.plugin)
    with ThreadedServer(plugin, str(directory / spec.model)) as server:
        with Client(server.target) as client:
            answer = client.predict("any text")
    assert answer.label == "hello" and answer.score == 1.0
