"""The Docker images a bundle store leaves on an engine, and removing those no bundle uses.

A bundle has two kinds of image: ``NAME:VERSION`` (labelled with the bundle's digest, perhaps
with more tags from ``--tag``) and its dependency stage ``NAME:deps-<key>``, which bundles with
the same requirements share. ``drucker bundle delete`` removes the deleted bundle's images that
no other stored bundle uses; ``drucker bundle prune`` removes every such image of the store's
bundle names (or of the names given).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs

from drucker.bundle.dockerfile import DIGEST_LABEL, NAME_LABEL, VERSION_LABEL
from drucker.bundle.image import dependency_tag
from drucker.bundle.manifest import Manifest
from drucker.bundle.store import BundleStore

_DEPENDENCY_TAG = re.compile(r"([a-z0-9]+(?:[._-][a-z0-9]+)*):deps-[0-9a-f]{12}")


@attrs.frozen
class EngineImage:
    """One tag of an image on the engine, with the image's size."""

    reference: str
    size: int


def used_references(store: BundleStore) -> set[str]:
    """The image tags the stored bundles use: ``NAME:VERSION`` and their dependency stages."""
    used = set()
    for manifest in store.list():
        used.add(manifest.tag)
        path = store.path(manifest.name, manifest.version)
        if (path / "requirements.lock").is_file():
            used.add(dependency_tag(path, manifest))
    return used


def bundle_references(store: BundleStore, manifest: Manifest) -> set[str]:
    """The tags a stored bundle's images have or would have (its own and its stage's)."""
    return {manifest.tag, dependency_tag(store.path(manifest.name, manifest.version), manifest)}


def unused_images(
    client: Any, store: BundleStore, names: Iterable[str] | None = None
) -> list[EngineImage]:
    """The engine's bundle and dependency images of ``names`` (default: every bundle name of
    the store) that no stored bundle uses, by tag."""
    stored = {(m.name, m.version): m.digest for m in store.list()}
    wanted = set(names) if names is not None else {name for name, _ in stored}
    used = used_references(store)
    found = []
    for image in client.images.list():
        labels = image.labels or {}
        size = int(image.attrs.get("Size", 0))
        name, version = labels.get(NAME_LABEL), labels.get(VERSION_LABEL)
        is_bundle = False
        if name is not None and version is not None and name in wanted:
            if stored.get((name, version)) == labels.get(DIGEST_LABEL):
                continue  # a stored bundle's image, under whatever tags it has
            is_bundle = True
        for reference in image.tags:
            stage = _DEPENDENCY_TAG.fullmatch(reference)
            unused_stage = stage is not None and stage.group(1) in wanted
            if (is_bundle or unused_stage) and reference not in used:
                found.append(EngineImage(reference, size))
    return sorted(found, key=lambda image: image.reference)


def images_of_deleted(
    client: Any, manifest: Manifest, stage: str, store: BundleStore
) -> list[EngineImage]:
    """A deleted bundle's images that no bundle left in the store uses: every tag of its image
    ``NAME:VERSION`` (when its digest label is the bundle's) and its dependency ``stage``'s tag
    (only that tag: other tags of the same image belong to others)."""
    used = used_references(store)
    found: dict[str, EngineImage] = {}
    image = _image(client, manifest.tag)
    if image is not None and (image.labels or {}).get(DIGEST_LABEL) == manifest.digest:
        size = int(image.attrs.get("Size", 0))
        found |= {tag: EngineImage(tag, size) for tag in image.tags if tag not in used}
    staged = _image(client, stage)
    if staged is not None and stage not in used:
        found[stage] = EngineImage(stage, int(staged.attrs.get("Size", 0)))
    return sorted(found.values(), key=lambda image: image.reference)


def _image(client: Any, reference: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None


def remove_images(client: Any, images: Iterable[EngineImage]) -> list[str]:
    """Remove each tag (the image goes with its last tag); one line per image on what happened."""
    import docker.errors

    lines = []
    for image in images:
        try:
            client.images.remove(image.reference, noprune=False)
            lines.append(f"removed image {image.reference} ({describe_bytes(image.size)})")
        except docker.errors.ImageNotFound:
            continue
        except docker.errors.APIError as exc:
            reason = (exc.explanation or str(exc)).splitlines()[0]
            lines.append(f"kept image {image.reference}: {reason}")
    return lines


def describe_bytes(size: int) -> str:
    """A size in MB, as ``docker images`` shows it."""
    return f"{size / 1e6:.0f} MB"
