"""``system_packages:`` and the smoke start with the real Docker engine (issue 27.1).

A plugin that loads libgomp.so.1 at import (as LightGBM does) is absent from the base image:
its bundle's build fails at the smoke start with the container's own error, and builds,
smoke-starts and serves once ``system_packages: [libgomp1]`` brings the library, downloaded
on the host and installed in the image offline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner, Result

from drucker.bundle.store import BundleStore
from drucker.cli import main
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import REPO
from tests.docker_support import base_image, require_docker
from tests.serving import free_port
from tests.system.test_bundle_docker import wait_healthy

PLUGIN = REPO / "tests" / "plugins" / "gomp_plugin.py"


@pytest.fixture(scope="module")
def docker() -> Any:
    return require_docker()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> BundleStore:
    return BundleStore(tmp_path_factory.mktemp("system-packages-store"))


@pytest.fixture(scope="module")
def built(docker: Any) -> Iterator[None]:
    """Removes every image of the bundle name ``gomp`` the module's builds made."""
    yield
    for image in docker.images.list(name="gomp"):
        docker.images.remove(image.id, force=True)


def project(root: Path, system_packages: list[str], smoke_input: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLUGIN, root / "plugin.py")
    (root / "model.txt").write_text("gomp-ok\n")
    spec = {"name": "gomp", "plugin": "plugin.py", "model": "model.txt"}
    if system_packages:
        spec["system_packages"] = system_packages  # type: ignore[assignment]
    if smoke_input is not None:
        spec["smoke_input"] = smoke_input
    (root / "bundle.yaml").write_text(json.dumps(spec))  # JSON is YAML
    return root


def build(docker: Any, store: BundleStore, root: Path) -> Result:
    result = CliRunner().invoke(
        main,
        ["bundle", "build", str(root), "--store", str(store.root)],
        env={"DRUCKER_BASE_IMAGE": base_image(docker)},
    )
    return result


def test_a_missing_system_library_fails_the_build_at_the_smoke_start(
    docker: Any, store: BundleStore, tmp_path: Path, built: None
) -> None:
    result = build(docker, store, project(tmp_path / "gomp", []))
    assert result.exit_code != 0, result.stderr
    assert "smoke start: the image gomp:" in result.stderr
    assert "exited with code" in result.stderr
    assert "libgomp.so.1: cannot open shared object file" in result.stderr
    assert not docker.containers.list(all=True, filters={"label": "io.drucker.smoke"})


def test_system_packages_install_offline_and_the_image_serves(
    docker: Any, store: BundleStore, tmp_path: Path, built: None
) -> None:
    root = project(tmp_path / "gomp", ["libgomp1"], smoke_input="ping")
    result = build(docker, store, root)
    assert result.exit_code == 0, result.stderr
    assert "smoke start: 'ping' -> label 'gomp-ok'" in result.stderr
    assert "smoke start: gomp:" in result.stderr and " served in " in result.stderr
    tag = result.stdout.strip().splitlines()[-1]
    manifest = store.get(tag)[1]
    (gomp,) = [p for p in manifest.system_packages if p.name == "libgomp1"]
    bundle = store.path(manifest.name, manifest.version)
    # Pinned and hashed like the wheelhouse, and covered by the bundle's digest.
    assert manifest.files[f"system/{gomp.filename}"] == gomp.sha256
    assert f"{gomp.sha256}  {gomp.filename}" in (bundle / "system" / "SHA256SUMS").read_text()
    assert "dpkg --install" in (bundle / "Dockerfile").read_text()

    port = free_port()
    container = docker.containers.run(tag, detach=True, ports={"5000/tcp": ("127.0.0.1", port)})
    try:
        wait_healthy(container)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = call(channel, Kind.STRING, Kind.STRING, "anything")
        assert answer.label == "gomp-ok" and answer.score >= 1
    finally:
        container.remove(force=True)

    again = build(docker, store, root)  # the resolution is cached: same bundle
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == tag
    assert "reusing the resolution of libgomp1" in again.stderr
