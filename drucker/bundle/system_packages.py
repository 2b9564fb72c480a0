"""``system_packages:``: Debian packages a bundle's image needs, downloaded on the host.

Containers reach no package mirror, so the packages are resolved on the host, by the host's
``apt-get`` against the *base image's* installed packages (its ``/var/lib/dpkg/status``): only
what the image lacks is downloaded, dependencies included, for the image's release and
architecture. The ``.deb`` files go into the bundle's ``system/`` directory with a
``SHA256SUMS`` file; the image checks the sums and installs them with ``dpkg -i`` before
anything else, offline. The files are part of the bundle, so its digest covers them. A
resolution is cached under the store, keyed by the names and the image's package list.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import cattrs

from drucker.bundle.wheels import sha256_file
from drucker.errors import ConfigurationError

SYSTEM_DIR = "system"
SUMS_FILE = "SHA256SUMS"
LOCK_FILE = "packages.json"
ERROR_TAIL_LINES = 15
# Debian policy: lower-case letters, digits, '+', '-' and '.', starting with a letter or digit.
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_PROBE = (
    'set -e; . /etc/os-release; echo "${VERSION_CODENAME:-unknown}"; '
    "dpkg --print-architecture; cat /var/lib/dpkg/status"
)

Progress = Callable[[str], None]


@attrs.frozen
class DebianPackage:
    """One ``.deb`` of a bundle's ``system/`` directory."""

    name: str
    version: str
    architecture: str
    filename: str
    sha256: str


@attrs.frozen
class DebianBase:
    """What resolving for a base image needs: its release, architecture and installed set."""

    release: str
    architecture: str
    status: str  # the text of its /var/lib/dpkg/status


def validate_names(names: Iterable[str], where: str) -> None:
    """:raises ConfigurationError: naming the first entry that is not a Debian package name."""
    for name in names:
        if not _PACKAGE_NAME.fullmatch(name):
            raise ConfigurationError(
                f"{where}: {name!r} is not a Debian package name (lower-case letters, digits, "
                "'+', '-' and '.', e.g. libgomp1)"
            )


def debian_base(client: Any, image: str, cache: Path) -> DebianBase:
    """Read a local image's Debian release, architecture and package list (cached by id).

    :raises ConfigurationError: when the image has no dpkg (not Debian-based).
    """
    import docker.errors

    image_id = str(client.images.get(image).id)
    cached = cache / "base-images" / f"{image_id.replace(':', '-')}.debian.json"
    if cached.is_file():
        return DebianBase(**json.loads(cached.read_text(encoding="utf-8")))
    try:
        output = client.containers.run(
            image_id, ["sh", "-c", _PROBE], remove=True, entrypoint=[], user="0"
        ).decode("utf-8", "replace")
    except docker.errors.DockerException as exc:
        reason = str(exc).splitlines()[0][:200]
        raise ConfigurationError(
            f"system_packages need a Debian-based image with dpkg; {image} has none ({reason})"
        ) from None
    release, architecture, status = output.split("\n", 2)
    base = DebianBase(release.strip(), architecture.strip(), status)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(attrs.asdict(base)), encoding="utf-8")
    return base


def _host_release() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r"^VERSION_CODENAME=\"?([^\"\n]*)", text, re.M)
    return found.group(1) if found else "unknown"


@attrs.frozen
class SystemResolution:
    """The downloaded ``.deb`` files of a resolution, in a cache directory."""

    packages: list[DebianPackage]
    directory: Path

    def copy_into(self, target: Path) -> None:
        """Copy the files and their ``SHA256SUMS`` into a bundle's ``system/`` directory."""
        target.mkdir(parents=True)
        for package in self.packages:
            shutil.copyfile(self.directory / package.filename, target / package.filename)
        (target / SUMS_FILE).write_text(sums_file(self.packages), encoding="utf-8")


def sums_file(packages: Iterable[DebianPackage]) -> str:
    """``sha256sum --check`` input for the packages."""
    return "".join(f"{p.sha256}  {p.filename}\n" for p in packages)


_converter = cattrs.Converter(forbid_extra_keys=True)


def resolve_system_packages(
    names: list[str], base: DebianBase, cache: Path, progress: Progress = lambda _: None
) -> SystemResolution:
    """Download ``names`` and what they depend on that ``base`` lacks, with the host's apt.

    :raises ConfigurationError: when the host cannot download for the image's release (another
        release, no apt) or apt refuses (an unknown package, stale lists).
    """
    key = hashlib.sha256(
        json.dumps([sorted(names), base.release, base.architecture, base.status]).encode()
    ).hexdigest()[:24]
    directory = cache / "system-packages" / key
    lock = directory / LOCK_FILE
    if lock.is_file():
        progress(f"system packages: reusing the resolution of {', '.join(sorted(names))}")
        data = json.loads(lock.read_text(encoding="utf-8"))
        return SystemResolution(_converter.structure(data, list[DebianPackage]), directory)
    host = _host_release()
    if host != base.release or shutil.which("apt-get") is None:
        raise ConfigurationError(
            f"system_packages are downloaded with this host's apt, for the base image's release "
            f"({base.release}); this host is {host}"
            + ("" if shutil.which("apt-get") else " without apt-get")
            + ": build on a host of the same Debian release"
        )
    progress(f"system packages: downloading {', '.join(sorted(names))} for {base.release}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent) as work:
        packages = _download(names, base, Path(work))
        Path(work, LOCK_FILE).write_text(
            json.dumps(_converter.unstructure(packages), indent=2), encoding="utf-8"
        )
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(work, directory)
        Path(work).mkdir()  # for TemporaryDirectory's clean-up
    for package in packages:
        progress(f"  {package.name} {package.version} ({package.filename})")
    return SystemResolution(packages, directory)


def _download(names: list[str], base: DebianBase, work: Path) -> list[DebianPackage]:
    status = work / "dpkg-status"
    status.write_text(base.status, encoding="utf-8")
    (work / "partial").mkdir()
    command = [
        "apt-get",
        "install",
        "--download-only",
        "--yes",
        "--quiet",
        "--no-install-recommends",
        "-o",
        f"Dir::State::status={status}",
        "-o",
        f"Dir::Cache::archives={work}",
        "-o",
        f"APT::Architecture={base.architecture}",
        "-o",
        "Debug::NoLocking=1",
        *names,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=_apt_env())
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        tail = "\n".join(lines[-ERROR_TAIL_LINES:])
        raise ConfigurationError(
            f"apt-get could not download system_packages {', '.join(names)}:\n{tail}\n"
            "(an unknown package, or the host's package lists are stale: apt-get update)"
        )
    status.unlink()
    shutil.rmtree(work / "partial", ignore_errors=True)
    (work / "lock").unlink(missing_ok=True)
    return [_describe(path) for path in sorted(work.glob("*.deb"))]


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


def _describe(path: Path) -> DebianPackage:
    fields = subprocess.run(
        ["dpkg-deb", "--showformat=${Package}\\n${Version}\\n${Architecture}\\n", "--show", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return DebianPackage(fields[0], fields[1], fields[2], path.name, sha256_file(path))


def install_step(packages: list[DebianPackage]) -> str:
    """The Dockerfile lines that check and install the bundle's ``system/`` packages offline."""
    if not packages:
        return ""
    return f"""\
COPY {SYSTEM_DIR}/ /tmp/bundle/{SYSTEM_DIR}/
RUN cd /tmp/bundle/{SYSTEM_DIR} && sha256sum --check --quiet {SUMS_FILE} \\
 && dpkg --install --force-confold *.deb && cd / && rm -rf /tmp/bundle
"""
