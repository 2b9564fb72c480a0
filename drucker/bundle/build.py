"""``drucker bundle build``: assemble a bundle from a project and store it."""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable
from pathlib import Path

import attrs
import yaml

from drucker._version import __version__
from drucker.bundle import dockerfile
from drucker.bundle.files import ProjectFiles, default_max_file_bytes
from drucker.bundle.manifest import (
    DOCKERFILE,
    Manifest,
    bundle_digest,
    file_digests,
    recipe,
    write_manifest,
)
from drucker.bundle.ports import manifest_ports
from drucker.bundle.spec import (
    DEFAULT_BASE_IMAGE,
    SPEC_FILE,
    BundleSpec,
    load_spec,
    validate_version,
)
from drucker.bundle.store import BundleStore
from drucker.bundle.system_packages import (
    SYSTEM_DIR,
    DebianBase,
    SystemResolution,
    resolve_system_packages,
)
from drucker.bundle.target import DEFAULT_GLIBC, Target
from drucker.bundle.wheels import lock_file, read_requirements, resolve
from drucker.errors import ConfigurationError

SETTINGS_PATH = "app/settings.yml"
VERSION_DIGITS = 12
BASE_IMAGE_ENV = "DRUCKER_BASE_IMAGE"


@attrs.frozen
class BuildResult:
    """What a build produced: the stored bundle and whether it was new."""

    path: Path
    manifest: Manifest
    created: bool


def choose_base_image(spec: BundleSpec, given: str | None = None) -> str:
    """``--base-image``, else ``bundle.yaml``'s ``base_image``, else ``$DRUCKER_BASE_IMAGE``."""
    return given or spec.base_image or os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE


_PYTHON_IN_NAME = re.compile(r"(?:python|py)[:-]?3\.?(\d{1,2})(?!\d)")


def python_in_name(image: str) -> str | None:
    """The Python version an image's name states (``python:3.12-slim``, ``…-py311``), if any."""
    found = _PYTHON_IN_NAME.search(image.rsplit("/", 1)[-1])
    return f"3.{found.group(1)}" if found else None


def choose_target(
    spec: BundleSpec,
    base_image: str,
    *,
    python: str | None = None,
    platform: str | None = None,
    image_python: str | None = None,
    image_glibc: str | None = None,
) -> Target:
    """The target to resolve for: given values, else the base image's (inspected or named).

    :raises ConfigurationError: when the Python asked for differs from the base image's, or
        when no Python version is known.
    """
    wanted = python or spec.python
    if image_python is not None:
        if wanted is not None and wanted != image_python:
            raise ConfigurationError(
                f"the bundle asks for Python {wanted}, but the base image {base_image} has "
                f"Python {image_python}: choose a base image with {wanted}"
            )
        wanted = image_python
    wanted = wanted or python_in_name(base_image)
    if wanted is None:
        raise ConfigurationError(
            f"which Python does {base_image} have? Give `python: 3.X` in bundle.yaml or "
            "--python (without --no-image it is read from the image)"
        )
    return Target(wanted, platform or spec.platform, image_glibc or DEFAULT_GLIBC)


def _created_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _plugin_in_bundle(spec: BundleSpec, files: ProjectFiles, staged: Path) -> str:
    """Copy a plugin file (or a package of the project) and return how the image names it."""
    if spec.plugin.endswith(".py"):
        target = f"app/{spec.plugin}"
        files.copy("plugin", files.named("plugin", spec.plugin), staged / target)
        return target
    package = files.project / spec.plugin.split(".")[0]
    if package.is_dir() or package.with_suffix(".py").is_file():
        source = package if package.is_dir() else package.with_suffix(".py")
        files.copy("plugin", source, staged / "app" / source.name)
    return spec.plugin  # an installed module (a first-party plugin or a requirement)


def _settings_in_bundle(spec: BundleSpec, files: ProjectFiles, staged: Path) -> None:
    target = staged / SETTINGS_PATH
    if spec.settings is not None:
        files.copy("settings", files.named("settings", spec.settings), target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    defaults = {"app.name": spec.name, "app.port": spec.port}
    target.write_text(yaml.safe_dump(defaults, sort_keys=True), encoding="utf-8")


def _system_packages(
    spec: BundleSpec,
    base: DebianBase | None,
    store: BundleStore,
    progress: Callable[[str], None],
) -> SystemResolution | None:
    if not spec.system_packages:
        return None
    if base is None:
        raise ConfigurationError(
            "system_packages are resolved against the base image's installed packages: "
            "build with an image (without --no-image)"
        )
    resolution = resolve_system_packages(spec.system_packages, base, store.cache_dir, progress)
    if not resolution.packages:
        progress("system packages: the base image has them all already")
    return resolution


def assemble(
    project: Path,
    store: BundleStore,
    *,
    version: str | None = None,
    refresh: bool = False,
    base_image: str | None = None,
    target: Target | None = None,
    max_file_bytes: int | None = None,
    system_base: DebianBase | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Resolve, copy, digest and store the bundle of ``project``; no Docker involved.

    ``target`` defaults to what :func:`choose_target` finds without inspecting the image;
    ``refresh`` resolves the requirements again instead of reusing a cached resolution;
    ``max_file_bytes`` bounds each file copied (default
    :func:`~drucker.bundle.files.default_max_file_bytes`). ``system_base`` is what the
    base image has installed, which ``system_packages:`` are resolved against (see
    :mod:`drucker.bundle.system_packages`).

    :raises ConfigurationError: also when ``system_packages:`` are asked for without
        ``system_base``.
    """
    limit = default_max_file_bytes() if max_file_bytes is None else max_file_bytes
    spec = load_spec(project, limit)
    project_files = ProjectFiles(project, str(project / SPEC_FILE), limit)
    if version is not None:
        validate_version(version)
    base = choose_base_image(spec, base_image)
    target = target or choose_target(spec, base)
    system = _system_packages(spec, system_base, store, progress)
    requirements = read_requirements(spec.requirements, project)
    resolution = resolve(requirements, target, store.cache_dir, refresh=refresh, progress=progress)
    pinned = resolution.packages
    with store.staging() as staged:
        resolution.copy_into(staged / "wheelhouse")
        if system is not None and system.packages:
            system.copy_into(staged / SYSTEM_DIR)
        (staged / "requirements.lock").write_text(lock_file(pinned), encoding="utf-8")

        progress("copying the plugin, settings, files and model")
        plugin = _plugin_in_bundle(spec, project_files, staged)
        _settings_in_bundle(spec, project_files, staged)
        for pattern in spec.include:
            for match in project_files.matches(pattern):
                project_files.copy("include", match, staged / "app" / match.relative_to(project))
        (staged / "model").mkdir()
        model = None
        if spec.model is not None:
            model = f"model/{Path(spec.model).name}"
            project_files.copy("model", project_files.named("model", spec.model), staged / model)

        files = file_digests(staged, known={f"wheelhouse/{p.filename}": p.sha256 for p in pinned})
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
            base_image=base,
            python=target.python,
            platform=target.platform,
            env=dict(spec.env),
            labels=dict(spec.labels),
            packages=pinned,
            files=files,
            system_packages=system.packages if system is not None else [],
        )
        digest = bundle_digest(files, recipe(draft))
        manifest = attrs.evolve(draft, digest=digest, version=version or digest[:VERSION_DIGITS])
        existing = store.path(manifest.name, manifest.version)
        if existing.exists():
            return BuildResult(existing, store.get(manifest.tag)[1], created=False)
        write_manifest(staged, manifest)
        ports = manifest_ports(staged, manifest).exposed()
        (staged / DOCKERFILE).write_text(dockerfile.render(manifest, ports=ports), encoding="utf-8")
        path, created = store.commit(staged, manifest)
    if not created:
        raise ConfigurationError(f"bundle {manifest.tag} appeared while building")
    return BuildResult(path, manifest, created=True)
