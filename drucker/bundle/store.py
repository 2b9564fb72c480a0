"""The local bundle store: ``<root>/<name>/<version>/`` directories holding one bundle each.

The root is ``$DRUCKER_BUNDLE_STORE``, else ``~/.local/share/drucker/bundles``. Bundles are
assembled in a staging directory inside the root and renamed into place, so a bundle in the
store is always complete. Export writes one ``.tar.gz``; import verifies it against its manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from drucker.bundle.files import MAX_FILE_ENV, default_max_file_bytes
from drucker.bundle.manifest import Manifest, read_manifest, verify
from drucker.bundle.spec import validate_bundle_name, validate_version
from drucker.errors import AlreadyExistsError, ConfigurationError, NotFoundError

MAX_ARCHIVE_MEMBERS = 100_000  # entries an imported archive may have

STORE_ENV = "DRUCKER_BUNDLE_STORE"
STAGING = ".staging"
STAGING_LOCK = ".lock"
CACHE = ".cache"
# Wheels and most model files are compressed already: more effort buys little but takes long.
GZIP_LEVEL = 6


def default_root() -> Path:
    """The store root from the environment, or the default under the user's home."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".local" / "share" / "drucker" / "bundles"


def parse_tag(tag: str) -> tuple[str, str | None]:
    """``NAME[:VERSION]`` as (name, version or None)."""
    name, _, version = tag.partition(":")
    validate_bundle_name(name)
    if version:
        validate_version(version)
    return name, version or None


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        yield


def _sweep_orphans(base: Path) -> None:
    """Remove staging directories that no live process holds locked."""
    for entry in base.iterdir():
        if entry.name == STAGING_LOCK:
            continue
        if not entry.is_dir() or entry.is_symlink():
            entry.unlink(missing_ok=True)
            continue
        try:
            descriptor = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a build in progress
        finally:
            os.close(descriptor)
        shutil.rmtree(entry, ignore_errors=True)


class BundleStore:
    """Bundles by name and version."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh directory on the store's file system, removed unless committed.

        The directory is locked (``flock``) while in use; staging directories whose lock no
        process holds (left by a build that was killed) are removed here first. Creating,
        locking and sweeping happen under one lock of the staging area, so a directory is
        never seen unlocked by another build while it is in use.
        """
        base = self.root / STAGING
        base.mkdir(parents=True, exist_ok=True)
        with _locked(base / STAGING_LOCK, fcntl.LOCK_EX):
            _sweep_orphans(base)
            path = Path(tempfile.mkdtemp(dir=base))
            held = os.open(path, os.O_RDONLY)
            fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            os.close(held)

    @property
    def cache_dir(self) -> Path:
        """Resolutions, wheels and image facts reused between builds (safe to delete)."""
        return self.root / CACHE

    def path(self, name: str, version: str) -> Path:
        return self.root / name / version

    def commit(self, staged: Path, manifest: Manifest) -> tuple[Path, bool]:
        """Move a staged bundle into place; (path, False) when that version already exists."""
        target = self.path(manifest.name, manifest.version)
        if target.exists():
            return target, False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        return target, True

    def list(self) -> list[Manifest]:
        """Every stored bundle, by name, newest first within a name."""
        if not self.root.is_dir():
            return []
        found = []
        for name_dir in sorted(self.root.iterdir()):
            if name_dir.name.startswith(".") or not name_dir.is_dir():
                continue
            versions = [read_manifest(v) for v in name_dir.iterdir() if v.is_dir()]
            found += sorted(versions, key=lambda m: m.created, reverse=True)
        return found

    def get(self, tag: str) -> tuple[Path, Manifest]:
        """A bundle by ``NAME:VERSION``, or the newest of ``NAME``.

        :raises NotFoundError: when there is no such bundle.
        """
        name, version = parse_tag(tag)
        if version is not None:
            path = self.path(name, version)
            if not path.is_dir():
                raise NotFoundError(f"no bundle {name}:{version} in {self.root}")
            return path, read_manifest(path)
        candidates = [m for m in self.list() if m.name == name]
        if not candidates:
            raise NotFoundError(f"no bundle named {name} in {self.root}")
        newest = candidates[0]
        return self.path(newest.name, newest.version), newest

    def delete(self, tag: str) -> Manifest:
        """Remove a bundle (``NAME:VERSION`` required, to delete on purpose)."""
        _, version = parse_tag(tag)
        if version is None:
            raise ConfigurationError("give the version to delete: NAME:VERSION")
        path, manifest = self.get(tag)
        shutil.rmtree(path)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the name directory, when it was the last version
        return manifest

    def export(self, tag: str, archive: Path) -> Manifest:
        """Write a bundle as one reproducible ``.tar.gz``, streamed file by file.

        The bytes depend only on the bundle: entries are sorted, without owners or times, and
        the gzip header holds neither a file name nor a time. The archive is written next to
        its final name and renamed into place when complete.
        """
        path, manifest = self.get(tag)
        verify(path, manifest)
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(f".{archive.name}.partial")
        try:
            with (
                partial.open("wb") as out,
                gzip.GzipFile(
                    filename="", fileobj=out, mode="wb", mtime=0, compresslevel=GZIP_LEVEL
                ) as compressed,
                tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for file in sorted(p for p in path.rglob("*") if p.is_file()):
                    info = tar.gettarinfo(str(file), arcname=file.relative_to(path).as_posix())
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mtime = 0
                    info.mode = 0o644
                    with file.open("rb") as handle:
                        tar.addfile(info, handle)
            os.replace(partial, archive)
        finally:
            partial.unlink(missing_ok=True)
        return manifest

    def import_archive(self, archive: Path, max_file_bytes: int | None = None) -> Manifest:
        """Add an exported bundle, verified against its manifest before it enters the store.

        Each file may hold at most ``max_file_bytes`` (default: the build's limit,
        ``$DRUCKER_BUNDLE_MAX_FILE_SIZE`` or 4 GiB), the archive at most
        :data:`MAX_ARCHIVE_MEMBERS` entries, so a small archive cannot unpack without bound.

        :raises ConfigurationError: for a tampered, malformed or oversized archive.
        :raises AlreadyExistsError: when that version is already stored.
        """
        limit = default_max_file_bytes() if max_file_bytes is None else max_file_bytes
        with self.staging() as staged:
            try:
                with tarfile.open(archive, mode="r:gz") as tar:
                    for count, member in enumerate(tar, start=1):
                        if count > MAX_ARCHIVE_MEMBERS:
                            raise ConfigurationError(
                                f"{archive}: more than {MAX_ARCHIVE_MEMBERS} entries"
                            )
                        if member.size > limit:
                            raise ConfigurationError(
                                f"{archive}: {member.name} holds {member.size} bytes, more than "
                                f"the limit of {limit} (${MAX_FILE_ENV})"
                            )
                        tar.extract(member, staged, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ConfigurationError(f"{archive}: not a bundle archive: {exc}") from None
            manifest = read_manifest(staged)
            validate_bundle_name(manifest.name)
            validate_version(manifest.version)
            verify(staged, manifest)
            if self.path(manifest.name, manifest.version).exists():
                raise AlreadyExistsError(f"bundle {manifest.tag} is already in the store")
            self.commit(staged, manifest)
        return manifest
