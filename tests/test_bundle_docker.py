"""Bundle images with the real Docker engine: build, serve, predict, stop; layer reuse."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import joblib
import pytest

from drucker.bundle.build import assemble
from drucker.bundle.image import build_image
from drucker.bundle.store import BundleStore
from drucker.kinds import Kind
from tests.conftest import REPO
from tests.docker_support import base_image, require_docker
from tests.serving import free_port
from tests.wire import call

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


def build(project: Path, store: BundleStore, docker: Any, images: list[str]) -> tuple[str, float]:
    started = time.monotonic()
    result = assemble(project, store, base_image=base_image(docker))
    tag = build_image(result.path, result.manifest, lambda line: None, client=docker)
    images.append(tag)
    return tag, time.monotonic() - started


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
    docker: Any, project: Path, iris_model: Path, tmp_path: Path, images: list[str]
) -> None:
    tag, seconds = build(project, BundleStore(tmp_path / "store"), docker, images)
    image = docker.images.get(tag)
    labels = image.labels
    assert labels["org.opencontainers.image.version"] == tag.split(":")[1]
    assert labels["io.drucker.bundle.digest"].startswith(tag.split(":")[1])
    assert "org.opencontainers.image.created" in labels
    assert image.attrs["Config"]["User"] == "10001:10001"
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
        started = time.monotonic()
        container.stop(timeout=15)
        stopped_in = time.monotonic() - started
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-2000:]
        assert stopped_in < 15
        assert b'"stopped"' in container.logs()
    finally:
        container.remove(force=True)


def test_a_model_only_change_reuses_every_dependency_layer(
    docker: Any, project: Path, tmp_path: Path, images: list[str]
) -> None:
    store = BundleStore(tmp_path / "store")
    first, first_seconds = build(project, store, docker, images)
    changed = tmp_path / "changed"
    shutil.copytree(project, changed)
    model = changed / "model" / "iris" / "iris.joblib"
    model.write_bytes(model.read_bytes() + b"\0")
    second, second_seconds = build(changed, store, docker, images)
    assert first != second
    layers_first = docker.images.get(first).attrs["RootFS"]["Layers"]
    layers_second = docker.images.get(second).attrs["RootFS"]["Layers"]
    assert len(layers_first) == len(layers_second)
    # Only the last layer (the model) differs: base, user, venv and app layers are shared.
    assert layers_first[:-1] == layers_second[:-1]
    assert layers_first[-1] != layers_second[-1]
    print(f"\nfirst build {first_seconds:.1f} s, model-only rebuild {second_seconds:.1f} s")
