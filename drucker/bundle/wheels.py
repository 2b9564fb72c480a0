"""The wheelhouse: every Python dependency of a bundle, downloaded and pinned on the host.

The image build then installs only from these files (``--no-index --require-hashes``), so it
needs no network and installs exactly what the manifest lists.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import attrs
from packaging.utils import canonicalize_name, parse_wheel_filename

import drucker
from drucker._version import __version__
from drucker.errors import ConfigurationError

# Wheels built here get fixed timestamps, so the same source gives the same bytes.
REPRODUCIBLE_EPOCH = "315532800"


@attrs.frozen
class PinnedPackage:
    """One wheel of the wheelhouse."""

    name: str
    version: str
    filename: str
    sha256: str


def _run_pip(args: list[str], what: str) -> None:
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ConfigurationError(f"{what} failed:\n{tail}")


def drucker_source_tree() -> Path | None:
    """The source tree drucker runs from, when it was installed from one (editable)."""
    root = Path(drucker.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "drucker"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def add_drucker_wheel(wheelhouse: Path) -> Path:
    """Put a wheel of the running drucker (with its first-party plugins) into the wheelhouse."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    source = drucker_source_tree()
    if source is not None:
        _run_pip(
            ["wheel", "--no-deps", "--quiet", "-w", str(wheelhouse), str(source)],
            "building the drucker wheel",
        )
    else:
        _run_pip(
            ["download", "--no-deps", "--quiet", "-d", str(wheelhouse), f"drucker=={__version__}"],
            "downloading the drucker wheel",
        )
    wheels = sorted(wheelhouse.glob("drucker-*.whl"))
    if not wheels:
        raise ConfigurationError("no drucker wheel was produced")
    return wheels[-1]


def download_wheels(wheelhouse: Path, requirements: list[str], drucker_wheel: Path) -> None:
    """Resolve ``requirements`` plus drucker's own dependencies into binary wheels."""
    _run_pip(
        [
            "download",
            "--quiet",
            "--only-binary=:all:",
            "-d",
            str(wheelhouse),
            str(drucker_wheel),
            *requirements,
        ],
        "resolving the requirements (pip download)",
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def pin(wheelhouse: Path) -> list[PinnedPackage]:
    """Every wheel in the wheelhouse with its version and digest, sorted by name."""
    pinned = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        pinned.append(
            PinnedPackage(
                str(canonicalize_name(name)), str(version), wheel.name, sha256_file(wheel)
            )
        )
    names = [p.name for p in pinned]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigurationError(f"the wheelhouse holds several versions of {sorted(duplicates)}")
    return sorted(pinned, key=lambda p: p.name)


def lock_file(pinned: list[PinnedPackage]) -> str:
    """A hash-pinned requirements file for ``pip install --require-hashes``."""
    return "".join(f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n" for p in pinned)


def read_requirements(value: list[str] | str, project: Path) -> list[str]:
    """The requirement strings of a spec: a list, or lines of a requirements file."""
    if isinstance(value, list):
        return value
    lines = (project / value).read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
