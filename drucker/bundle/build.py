"""``drucker bundle build``: assemble a bundle from a project and store it."""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import attrs
import yaml

from drucker._version import __version__
from drucker.bundle import dockerfile
from drucker.bundle.manifest import (
    DOCKERFILE,
    Manifest,
    bundle_digest,
    file_digests,
    recipe,
    write_manifest,
)
from drucker.bundle.spec import BundleSpec, load_spec, validate_version
from drucker.bundle.store import BundleStore
from drucker.bundle.wheels import (
    add_drucker_wheel,
    download_wheels,
    lock_file,
    pin,
    read_requirements,
)
from drucker.errors import ConfigurationError

SETTINGS_PATH = "app/settings.yml"
VERSION_DIGITS = 12


@attrs.frozen
class BuildResult:
    """What a build produced: the stored bundle and whether it was new."""

    path: Path
    manifest: Manifest
    created: bool


def _created_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copyfile(source, target)


def _plugin_in_bundle(spec: BundleSpec, project: Path, staged: Path) -> str:
    """Copy a plugin file (or a package of the project) and return how the image names it."""
    if spec.plugin.endswith(".py"):
        target = f"app/{spec.plugin}"
        _copy(project / spec.plugin, staged / target)
        return target
    package = project / spec.plugin.split(".")[0]
    if package.is_dir() or package.with_suffix(".py").is_file():
        source = package if package.is_dir() else package.with_suffix(".py")
        _copy(source, staged / "app" / source.name)
    return spec.plugin  # an installed module (a first-party plugin or a requirement)


def _settings_in_bundle(spec: BundleSpec, project: Path, staged: Path) -> None:
    target = staged / SETTINGS_PATH
    if spec.settings is not None:
        _copy(project / spec.settings, target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    defaults = {"app.name": spec.name, "app.port": spec.port}
    target.write_text(yaml.safe_dump(defaults, sort_keys=True), encoding="utf-8")


def assemble(
    project: Path,
    store: BundleStore,
    *,
    version: str | None = None,
    base_image: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Resolve, copy, digest and store the bundle of ``project``; no Docker involved."""
    spec = load_spec(project)
    if version is not None:
        validate_version(version)
    with store.staging() as staged:
        progress("resolving and downloading wheels")
        wheelhouse = staged / "wheelhouse"
        drucker_wheel = add_drucker_wheel(wheelhouse)
        download_wheels(wheelhouse, read_requirements(spec.requirements, project), drucker_wheel)
        pinned = pin(wheelhouse)
        (staged / "requirements.lock").write_text(lock_file(pinned), encoding="utf-8")

        progress("copying the plugin, settings, files and model")
        plugin = _plugin_in_bundle(spec, project, staged)
        _settings_in_bundle(spec, project, staged)
        for pattern in spec.include:
            for match in sorted(project.glob(pattern)):
                _copy(match, staged / "app" / match.relative_to(project))
        (staged / "model").mkdir()
        model = None
        if spec.model is not None:
            model = f"model/{Path(spec.model).name}"
            _copy(project / spec.model, staged / model)

        files = file_digests(staged)
        draft = Manifest(
            name=spec.name,
            version="",
            digest="",
            created=_created_time(),
            drucker_version=__version__,
            plugin=plugin,
            model=model,
            settings=SETTINGS_PATH,
            port=spec.port,
            base_image=base_image or spec.base_image,
            env=dict(spec.env),
            labels=dict(spec.labels),
            packages=pinned,
            files=files,
        )
        digest = bundle_digest(files, recipe(draft))
        manifest = attrs.evolve(draft, digest=digest, version=version or digest[:VERSION_DIGITS])
        existing = store.path(manifest.name, manifest.version)
        if existing.exists():
            return BuildResult(existing, store.get(manifest.tag)[1], created=False)
        write_manifest(staged, manifest)
        (staged / DOCKERFILE).write_text(dockerfile.render(manifest), encoding="utf-8")
        path, created = store.commit(staged, manifest)
    if not created:
        raise ConfigurationError(f"bundle {manifest.tag} appeared while building")
    return BuildResult(path, manifest, created=True)
