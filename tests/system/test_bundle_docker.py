"""Bundle images with the real Docker engine: build, serve, predict, stop; layer reuse; push."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import joblib
import pytest
from click.testing import CliRunner

from drucker.bundle.store import BundleStore
from drucker.cli import main
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import REPO
from tests.docker_support import base_image, registry, require_docker
from tests.serving import free_port

IRIS_ROWS = ([5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [7.7, 3.0, 6.1, 2.3])


@pytest.fixture(scope="module")
def docker() -> Any:
    return require_docker()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Path:
    root = tmp_path_factory.mktemp("docker-project")
    for name in ("bundle.yaml", "settings.yml"):
        shutil.copy(REPO / "examples" / "iris" / name, root / name)
    (root / "model" / "iris").mkdir(parents=True)
    shutil.copy(iris_model, root / "model" / "iris" / "iris.joblib")
    return root


@pytest.fixture(scope="module")
def images(docker: Any) -> Iterator[list[str]]:
    built: list[str] = []
    yield built
    for tag in sorted(set(built)):
        docker.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> BundleStore:
    """One store for the module, so its cached resolution serves every build."""
    return BundleStore(tmp_path_factory.mktemp("docker-store"))


def build(
    project: Path, store: BundleStore, docker: Any, images: list[str], *options: str
) -> tuple[str, float, str]:
    """`drucker bundle build` of a project: the tag, the seconds it took and its messages."""
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        ["bundle", "build", str(project), "--store", str(store.root), *options],
        env={"DRUCKER_BASE_IMAGE": base_image(docker)},
    )
    seconds = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    tag = result.stdout.strip().splitlines()[-1]
    images.append(tag)
    images += [t for t in docker.images.get(tag).tags if t != tag]
    images += re.findall(r"^building the dependency stage (\S+)$", result.stderr, re.M)
    return tag, seconds, result.stderr


def dangling_from(docker: Any, *build_messages: str) -> set[str]:
    """The dangling images among those the builds made (other builds may share the engine)."""
    made = {m for text in build_messages for m in re.findall(r"---> ([0-9a-f]{12})$", text, re.M)}
    found = {image.id for image in docker.images.list(filters={"dangling": True})}
    return {image for image in found if image.split(":")[1][:12] in made}


def wait_healthy(container: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == "healthy":
            return
        if container.status == "exited":
            raise AssertionError(container.logs().decode()[-2000:])
        time.sleep(0.5)
    raise AssertionError(f"not healthy after {timeout} s: {container.logs().decode()[-2000:]}")


def test_the_image_serves_reports_healthy_and_stops_cleanly(
    docker: Any, project: Path, iris_model: Path, store: BundleStore, images: list[str]
) -> None:
    tag, seconds, messages = build(project, store, docker, images)
    assert dangling_from(docker, messages) == set()
    image = docker.images.get(tag)
    labels = image.labels
    assert labels["org.opencontainers.image.version"] == tag.split(":")[1]
    assert labels["io.drucker.bundle.digest"].startswith(tag.split(":")[1])
    assert "org.opencontainers.image.created" in labels
    assert image.attrs["Config"]["User"] == "10001:10001"
    # Every port the server opens is declared: gRPC, V2 REST and metrics.
    assert set(image.attrs["Config"]["ExposedPorts"]) == {"5000/tcp", "8080/tcp", "8082/tcp"}
    left = re.search(r"^left on the engine: (.*)$", messages, re.M)
    assert left is not None and tag in left.group(1) and ":deps-" in left.group(1), messages
    assert f"drucker bundle delete {tag}" in left.group(1)
    base_size = docker.images.get(base_image(docker)).attrs["Size"]
    print(
        f"\nimage {tag}: {image.attrs['Size'] / 1e6:.0f} MB (base {base_size / 1e6:.0f} MB), "
        f"built in {seconds:.1f} s"
    )

    port = free_port()
    container = docker.containers.run(tag, detach=True, ports={"5000/tcp": ("127.0.0.1", port)})
    try:
        wait_healthy(container)
        model = joblib.load(iris_model)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            for row in IRIS_ROWS:
                answer = call(channel, Kind.ARR_FLOAT, Kind.STRING, row)
                probabilities = model.predict_proba([row])[0]
                assert answer.label == model.predict([row])[0]
                assert answer.score == pytest.approx(max(probabilities), abs=1e-6)
        # Docker kills a container that has not stopped after 15 s (exit code 137): exit
        # code 0 proves the entrypoint stopped gracefully on SIGTERM, with no clock to read.
        container.stop(timeout=15)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-2000:]
        assert b'"stopped"' in container.logs()
    finally:
        container.remove(force=True)


def test_a_model_only_change_reuses_every_dependency_layer(
    docker: Any, project: Path, tmp_path: Path, store: BundleStore, images: list[str]
) -> None:
    first, first_seconds, first_messages = build(project, store, docker, images)
    again, again_seconds, messages = build(project, store, docker, images)
    assert again == first
    assert "reusing the wheels" in messages and "exists already" in messages
    changed = tmp_path / "changed"
    shutil.copytree(project, changed)
    model = changed / "model" / "iris" / "iris.joblib"
    model.write_bytes(model.read_bytes() + b"\0")
    second, second_seconds, second_messages = build(changed, store, docker, images)
    assert first != second
    assert "reusing the wheels" in second_messages
    layers_first = docker.images.get(first).attrs["RootFS"]["Layers"]
    layers_second = docker.images.get(second).attrs["RootFS"]["Layers"]
    assert len(layers_first) == len(layers_second)
    # Only the last layer (the model) differs: base, user, venv and app layers are shared.
    assert layers_first[:-1] == layers_second[:-1]
    assert layers_first[-1] != layers_second[-1]
    # The dependency stage is kept under its own tag: nothing the builds made dangles.
    assert "---> " in second_messages
    assert dangling_from(docker, first_messages, second_messages) == set()
    print(
        f"\nfirst build {first_seconds:.1f} s, no-op {again_seconds:.1f} s, "
        f"model-only rebuild {second_seconds:.1f} s"
    )


def test_rebuild_without_cache_then_tag_and_push_to_a_registry(
    docker: Any, project: Path, store: BundleStore, images: list[str]
) -> None:
    address = registry()
    first, _, _ = build(project, store, docker, images)
    old_id = docker.images.get(first).id
    reference = f"{address}/drucker-test/iris"
    tag, _, messages = build(
        project, store, docker, images, "--no-cache", "--tag", f"{reference}:extra"
    )
    assert tag == first and "resolving the requirements for CPython 3.11" in messages
    assert docker.images.get(tag).id != old_id  # rebuilt, and the old image did not dangle
    assert f"{reference}:extra" in docker.images.get(tag).tags
    assert "building the dependency stage" in messages
    assert dangling_from(docker, messages, f"---> {old_id.split(':')[1][:12]}") == set()

    version = tag.split(":")[1]
    result = CliRunner().invoke(
        main, ["bundle", "push", tag, reference, "--store", str(store.root)]
    )
    assert result.exit_code == 0, result.stderr
    images.append(f"{reference}:{version}")
    pushed = result.stdout.strip()
    assert pushed.startswith(f"{reference}:{version}@sha256:")
    with urllib.request.urlopen(f"http://{address}/v2/drucker-test/iris/tags/list") as answer:
        assert version in json.load(answer)["tags"]
    request = urllib.request.Request(
        f"http://{address}/v2/drucker-test/iris/manifests/{version}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["Docker-Content-Digest"] == pushed.split("@")[1]


def test_an_unreachable_base_image_is_one_line_before_any_resolution(
    docker: Any, project: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    result = CliRunner().invoke(
        main,
        ["bundle", "build", str(project), "--store", str(store)],
        env={"DRUCKER_BASE_IMAGE": "registry.invalid/nobody/python:3.11"},
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "drucker bundle: base image registry.invalid/nobody/python:3.11 is not on this Docker "
        "engine and cannot be pulled; name a local image with --base-image or "
        "$DRUCKER_BASE_IMAGE (.ci/setup.d/10-docker.sh makes drucker-base:bookworm-py311)"
    ]
    assert not (store / ".cache" / "resolutions").exists()


def test_the_image_serves_as_a_restricted_pod_runs_it(
    docker: Any,
    project: Path,
    iris_model: Path,
    tmp_path: Path,
    store: BundleStore,
    images: list[str],
) -> None:
    """Read-only root, writable paths only as the manifests' volumes, no capabilities, no
    privilege escalation, a non-root user: it serves, takes an upload and a switch, and the
    manifests' preStop pause runs in it."""
    from drucker.bundle.dockerfile import EVAL_DIR, MODEL_DIR, UID
    from drucker.bundle.k8s import WRITABLE
    from drucker.client import Client

    assert {path for _, path in WRITABLE} == {MODEL_DIR, EVAL_DIR, "/tmp"}
    tag, _, _ = build(project, store, docker, images)
    port = free_port()
    container = docker.containers.run(
        tag,
        detach=True,
        ports={"5000/tcp": ("127.0.0.1", port)},
        read_only=True,
        # As Kubernetes' fsGroup gives the pod's user the emptyDir volumes.
        tmpfs={path: f"uid={UID},gid={UID}" for _, path in WRITABLE},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        environment={"DRUCKER_MANAGEMENT_TOKEN": "t" * 32},
    )
    try:
        wait_healthy(container)
        with Client(f"127.0.0.1:{port}", token="t" * 32) as client:
            assert client.predict(list(IRIS_ROWS[0])).label
            client.upload_model(iris_model, "second.joblib")
            client.switch_model("second.joblib")
            assert client.predict(list(IRIS_ROWS[1])).label
        result = container.exec_run(_pre_stop(store, tag))
        assert result.exit_code == 0, result.output
    finally:
        logs = container.logs().decode()[-2000:]
        container.remove(force=True)
    assert "Read-only file system" not in logs, logs


def _pre_stop(store: BundleStore, tag: str) -> list[str]:
    from drucker.bundle.k8s import manifests

    resources = manifests(store.get(tag)[1], replicas=1, max_replicas=1)
    container = resources[1]["spec"]["template"]["spec"]["containers"][0]
    command: list[str] = container["lifecycle"]["preStop"]["exec"]["command"]
    return command
