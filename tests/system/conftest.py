"""Fixtures shared by the system tests that run a bundle image as an engine would."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drucker.bundle.store import BundleStore
from drucker.cli import main
from tests.conftest import REPO
from tests.docker_support import base_image, require_docker


@pytest.fixture(scope="session")
def iris_bundle_image(
    tmp_path_factory: pytest.TempPathFactory, iris_model: Path
) -> Iterator[tuple[str, Path]]:
    """The iris example built as a bundle image once a run: its tag and its bundle store."""
    docker = require_docker()
    project = tmp_path_factory.mktemp("iris-project")
    for name in ("bundle.yaml", "settings.yml"):
        shutil.copy(REPO / "examples" / "iris" / name, project / name)
    (project / "model" / "iris").mkdir(parents=True)
    shutil.copy(iris_model, project / "model" / "iris" / "iris.joblib")
    store = BundleStore(tmp_path_factory.mktemp("iris-store"))
    built = CliRunner().invoke(
        main,
        ["bundle", "build", str(project), "--store", str(store.root)],
        env={"DRUCKER_BASE_IMAGE": base_image(docker)},
    )
    assert built.exit_code == 0, built.stderr
    tag = built.stdout.strip().splitlines()[-1]
    yield tag, store.root
    docker.images.remove(tag, force=True)
