"""The bundle manifest: pinned packages, file digests and the bundle digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import attrs
import cattrs

from drucker.bundle.system_packages import DebianPackage
from drucker.bundle.wheels import PinnedPackage, sha256_file
from drucker.errors import ConfigurationError

MANIFEST_FILE = "manifest.json"
DOCKERFILE = "Dockerfile"
# Files derived from the digest itself, so they cannot be part of it.
NOT_DIGESTED = frozenset({MANIFEST_FILE, DOCKERFILE})


@attrs.frozen
class Manifest:
    """Everything a bundle holds and how it was made."""

    name: str
    version: str
    digest: str
    created: str
    drucker_version: str
    plugin: str
    model: str | None
    settings: str
    port: int
    base_image: str
    env: dict[str, str]
    labels: dict[str, str]
    packages: list[PinnedPackage]
    files: dict[str, str]
    python: str = "3.11"
    platform: str = "linux/amd64"
    system_packages: list[DebianPackage] = attrs.field(factory=list)

    @property
    def tag(self) -> str:
        """The image tag ``NAME:VERSION``."""
        return f"{self.name}:{self.version}"


_converter = cattrs.Converter(forbid_extra_keys=True)


def file_digests(root: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative POSIX path, except derived files.

    ``known`` gives digests computed already (e.g. of cached wheels), which are not re-read.
    """
    known = known or {}
    digests = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name not in NOT_DIGESTED:
            digests[name] = known.get(name) or sha256_file(path)
    return digests


def bundle_digest(files: dict[str, str], recipe: dict[str, Any]) -> str:
    """One sha256 over the files' digests and the image recipe (base image, env, labels…)."""
    canonical = json.dumps({"files": files, "recipe": recipe}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` into the bundle directory."""
    text = json.dumps(_converter.unstructure(manifest), indent=2, sort_keys=True)
    (root / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")


def read_manifest(root: Path) -> Manifest:
    """Read a bundle's manifest. :raises ConfigurationError: when it is missing or malformed."""
    path = root / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _converter.structure(data, Manifest)
    except FileNotFoundError:
        raise ConfigurationError(f"{root}: not a bundle (no {MANIFEST_FILE})") from None
    except (ValueError, cattrs.BaseValidationError) as exc:
        raise ConfigurationError(f"{path}: malformed manifest: {exc}") from None


def verify(root: Path, manifest: Manifest) -> None:
    """Check that the files match the manifest and the digest matches the files.

    :raises ConfigurationError: naming the first file that differs.
    """
    actual = file_digests(root)
    for name in sorted(set(actual) | set(manifest.files)):
        if actual.get(name) != manifest.files.get(name):
            state = (
                "missing"
                if name not in actual
                else "unexpected"
                if name not in manifest.files
                else "changed"
            )
            raise ConfigurationError(f"bundle {manifest.tag}: {name} is {state}")
    if bundle_digest(actual, recipe(manifest)) != manifest.digest:
        raise ConfigurationError(f"bundle {manifest.tag}: the digest does not match its content")


def recipe(manifest: Manifest) -> dict[str, Any]:
    """The non-file inputs of the digest."""
    extra = {"system_packages": manifest.system_packages} if manifest.system_packages else {}
    return {
        **_converter.unstructure(extra),
        "name": manifest.name,
        "plugin": manifest.plugin,
        "model": manifest.model,
        "settings": manifest.settings,
        "port": manifest.port,
        "base_image": manifest.base_image,
        "python": manifest.python,
        "platform": manifest.platform,
        "env": manifest.env,
        "labels": manifest.labels,
    }
