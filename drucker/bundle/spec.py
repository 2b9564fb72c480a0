"""``bundle.yaml``: what goes into a bundle, read with cattrs and checked against the project."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import attrs
import cattrs
import yaml

from drucker.bundle.files import ProjectFiles, default_max_file_bytes
from drucker.bundle.system_packages import validate_names
from drucker.bundle.target import DEFAULT_PLATFORM, PLATFORMS
from drucker.errors import ConfigurationError

SPEC_FILE = "bundle.yaml"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
# Docker repository names: lower-case letters, digits and separators, not at either end.
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_VERSION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@attrs.frozen
class BundleSpec:
    """The keys of ``bundle.yaml``. Paths are relative to the project directory."""

    name: str
    plugin: str
    model: str | None = None
    include: list[str] = attrs.field(factory=list)
    requirements: list[str] | str = attrs.field(factory=list)
    system_packages: list[str] = attrs.field(factory=list)  # Debian packages, e.g. libgomp1
    settings: str | None = None
    base_image: str | None = None  # None: $DRUCKER_BASE_IMAGE, else DEFAULT_BASE_IMAGE
    python: str | None = None  # None: the base image's Python
    platform: str = DEFAULT_PLATFORM
    env: dict[str, str] = attrs.field(factory=dict)
    labels: dict[str, str] = attrs.field(factory=dict)
    port: int = 5000
    # What the smoke start at the end of a build predicts: a string, or a list of numbers.
    smoke_input: str | list[float] | None = None


def validate_bundle_name(name: str, where: str = "bundle name") -> str:
    """Return ``name`` if it can name a Docker image, else raise :class:`ConfigurationError`."""
    if not (0 < len(name) <= 128 and _NAME.fullmatch(name)):
        raise ConfigurationError(
            f"{where}: {name!r} is not a valid bundle name (lower-case letters, digits, and "
            "'.', '_' or '-' between them)"
        )
    return name


def validate_version(version: str, where: str = "version") -> str:
    """Return ``version`` if it can be a Docker tag, else raise :class:`ConfigurationError`."""
    if not _VERSION.fullmatch(version):
        raise ConfigurationError(f"{where}: {version!r} is not a valid version (a Docker tag)")
    return version


_converter = cattrs.Converter(forbid_extra_keys=True)


def _str_only(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


_converter.register_structure_hook(str, _str_only)


def _smoke_input(value: Any, _: type) -> str | list[float] | None:
    if value is None or isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return value
    raise ValueError(f"expected a string or a list of numbers, got {value!r}")


_converter.register_structure_hook(str | list[float] | None, _smoke_input)
_converter.register_structure_hook(
    list[str] | str,
    lambda v, _: v if isinstance(v, str) else _converter.structure(v, list[str]),
)


def _first_error(error: BaseException) -> str:
    """A one-line message naming the key, from a cattrs validation error."""
    if isinstance(error, cattrs.ForbiddenExtraKeysError):
        return f"unknown key {sorted(error.extra_fields)[0]!r}"
    if isinstance(error, cattrs.BaseValidationError) and error.exceptions:
        inner = error.exceptions[0]
        names = [n.name for n in getattr(inner, "__notes__", []) if hasattr(n, "name")]
        message = _first_error(inner)
        return f"key {names[0]!r}: {message}" if names and "key" not in message else message
    if isinstance(error, KeyError):
        return f"missing key {error.args[0]!r}"
    return str(error)


def load_spec(project: Path, max_file_bytes: int | None = None) -> BundleSpec:
    """Read and check ``bundle.yaml`` of a project directory.

    Every file it names must resolve inside the project and be a regular file of at most
    ``max_file_bytes`` (default :func:`~drucker.bundle.files.default_max_file_bytes`); see
    :mod:`drucker.bundle.files`.

    :raises ConfigurationError: naming the key and the file, for unknown keys, wrong types,
        a bad name, or files that do not exist, lead outside the project or are too large.
    """
    path = project / SPEC_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"no {SPEC_FILE} in {project.resolve()} (`drucker bundle init` writes a starting one)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping of keys to values")
    for required in ("name", "plugin"):
        if required not in data:
            raise ConfigurationError(f"{path}: missing key {required!r}")
    try:
        spec = _converter.structure(data, BundleSpec)
    except Exception as exc:
        raise ConfigurationError(f"{path}: {_first_error(exc)}") from None
    validate_bundle_name(spec.name, f"{path}: key 'name'")
    validate_names(spec.system_packages, f"{path}: key 'system_packages'")
    limit = default_max_file_bytes() if max_file_bytes is None else max_file_bytes
    _check_files(spec, project, path, limit)
    return spec


def _check_files(spec: BundleSpec, project: Path, path: Path, max_file_bytes: int) -> None:
    files = ProjectFiles(project, str(path), max_file_bytes)

    def check(key: str, relative: str) -> None:
        for _ in files.files(key, files.named(key, relative)):
            pass

    if spec.plugin.endswith(".py") or "/" in spec.plugin:
        check("plugin", spec.plugin)
    else:
        package = spec.plugin.split(".")[0]
        for candidate in (package, f"{package}.py"):
            if os.path.lexists(project / candidate):
                check("plugin", candidate)
    if spec.model is not None:
        check("model", spec.model)
    if spec.settings is not None:
        check("settings", spec.settings)
    if isinstance(spec.requirements, str):
        check("requirements", spec.requirements)
    for pattern in spec.include:
        found = files.matches(pattern)
        if not found:
            raise ConfigurationError(f"{path}: key 'include': {pattern} matches no file")
        for match in found:
            for _ in files.files("include", match):
                pass
    if spec.platform not in PLATFORMS:
        raise ConfigurationError(
            f"{path}: key 'platform': {spec.platform} is not one of {', '.join(sorted(PLATFORMS))}"
        )
    if not 0 < spec.port < 65536:
        raise ConfigurationError(f"{path}: key 'port': {spec.port} is not a port")
