"""``bundle delete`` and ``bundle prune`` remove the Docker images no stored bundle uses.

Real engine, small images: each bundle image is the base image plus its bundle's labels (what
the commands read), each dependency stage the base image with a label of its own, so no wheel
is installed.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drucker.bundle.cleanup import DIGEST_LABEL, NAME_LABEL, VERSION_LABEL
from drucker.bundle.image import dependency_tag, image_exists
from drucker.bundle.store import BundleStore
from drucker.cli import main
from tests.bundle_support import stored_bundle
from tests.docker_support import base_image, require_docker


@pytest.fixture()
def docker() -> Any:
    return require_docker()


@pytest.fixture()
def name() -> Iterator[str]:
    """A bundle name no other test's images have."""
    yield f"cleanup-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def made(docker: Any, name: str) -> Iterator[list[str]]:
    references: list[str] = []
    yield references
    for image in docker.images.list():
        for tag in image.tags:
            if name in tag:  # only this test's tags: untagged, never forced
                docker.images.remove(tag)


def bundle_image(docker: Any, store: BundleStore, tag: str, made: list[str], *extra: str) -> None:
    """An image for a stored bundle: the base image with the bundle's labels."""
    _, manifest = store.get(tag)
    labels = {
        NAME_LABEL: manifest.name,
        VERSION_LABEL: manifest.version,
        DIGEST_LABEL: manifest.digest,
    }
    text = f"FROM {base_image(docker)}\nLABEL " + " ".join(
        f'"{k}"="{v}"' for k, v in labels.items()
    )
    image, _ = docker.images.build(fileobj=io.BytesIO(text.encode()), tag=tag, rm=True)
    for reference in extra:
        repository, _, version = reference.rpartition(":")
        image.tag(repository, version)
    made += [tag, *extra]


def stage_tag(docker: Any, reference: str, made: list[str]) -> None:
    """A stand-in for a dependency stage (never a tag on the base image itself)."""
    text = f'FROM {base_image(docker)}\nLABEL "test.stage"="{reference}"\n'
    docker.images.build(fileobj=io.BytesIO(text.encode()), tag=reference, rm=True)
    made.append(reference)


def cli(store: BundleStore, *arguments: str) -> Result:
    result = CliRunner().invoke(main, ["bundle", *arguments, "--store", str(store.root)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_delete_and_prune_remove_the_images_no_stored_bundle_uses(
    docker: Any, name: str, made: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BundleStore(tmp_path / "store")
    first = stored_bundle(store, tmp_path / "a", monkeypatch, "drucker", name=name, model=b"1")
    second = stored_bundle(store, tmp_path / "b", monkeypatch, "drucker", name=name, model=b"2")
    stage = dependency_tag(*store.get(first))
    assert stage == dependency_tag(*store.get(second))  # same requirements: one stage
    bundle_image(docker, store, first, made, f"127.0.0.1:5555/team/{name}:extra")
    bundle_image(docker, store, second, made)
    stage_tag(docker, stage, made)
    old_stage = f"{name}:deps-000000000000"  # from requirements no bundle has any more
    stage_tag(docker, old_stage, made)
    # An image of a version that is no longer in the store.
    gone = stored_bundle(store, tmp_path / "c", monkeypatch, "drucker", name=name, model=b"3")
    bundle_image(docker, store, gone, made)
    cli(store, "delete", gone, "--keep-images")
    assert image_exists(docker, gone)

    deleted = cli(store, "delete", first)
    assert deleted.stdout.splitlines()[0] == f"deleted {first}"
    assert not image_exists(docker, first)
    assert not image_exists(docker, f"127.0.0.1:5555/team/{name}:extra")
    assert f"removed image {first} (" in deleted.stdout
    assert image_exists(docker, stage), "the second bundle still uses the stage"
    assert image_exists(docker, second)

    planned = cli(store, "prune", name, "--dry-run").stdout
    assert sorted(line.split()[3] for line in planned.splitlines()) == sorted([gone, old_stage])
    assert image_exists(docker, gone) and image_exists(docker, old_stage)
    pruned = cli(store, "prune", name).stdout
    assert {line.split()[2] for line in pruned.splitlines()} == {gone, old_stage}
    assert not image_exists(docker, gone) and not image_exists(docker, old_stage)
    assert image_exists(docker, second) and image_exists(docker, stage)

    cli(store, "delete", second)
    assert not image_exists(docker, second) and not image_exists(docker, stage)
    assert image_exists(docker, base_image(docker))
    assert cli(store, "prune").stderr.strip() == "no unused images"
