"""A project's files on their way into a bundle: confined to the project, regular, bounded.

Every path ``bundle.yaml`` names (``plugin``, ``model``, ``settings``, ``requirements``,
``include``) is resolved, symlinks included, and must stay inside the project directory. Only
regular files are taken (no FIFOs, devices or sockets), each at most ``max_file_bytes``, and a
directory tree is walked without recursion, refusing a symlinked directory loop by name.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from drucker.errors import ConfigurationError

DEFAULT_MAX_FILE_BYTES = 4 * 1024**3
MAX_FILE_ENV = "DRUCKER_BUNDLE_MAX_FILE_SIZE"
IGNORED_NAMES = ("__pycache__",)
IGNORED_SUFFIXES = (".pyc",)
_CHUNK = 1 << 20
_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """``4GiB``, ``500M``, ``1024`` as bytes (binary units). :raises ConfigurationError:"""
    found = _SIZE.fullmatch(text)
    if found is None or int(found.group(1)) == 0:
        raise ConfigurationError(f"{text!r} is not a size (e.g. 4GiB, 500MiB or bytes)")
    return int(found.group(1)) * _UNITS[found.group(2).upper()]


def describe_size(size: int) -> str:
    """A size in the largest binary unit that keeps it at least 1."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit[0]]
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def default_max_file_bytes() -> int:
    """``$DRUCKER_BUNDLE_MAX_FILE_SIZE``, else 4 GiB."""
    configured = os.environ.get(MAX_FILE_ENV)
    return parse_size(configured) if configured else DEFAULT_MAX_FILE_BYTES


class ProjectFiles:
    """The files of one project, checked as ``bundle.yaml`` names them.

    Errors are one line: ``<where>: key '<key>': <path> <what is wrong>``.
    """

    def __init__(self, project: Path, where: str, max_file_bytes: int) -> None:
        self.project = project
        self.root = project.resolve()
        self.where = where
        self.max_file_bytes = max_file_bytes

    def error(self, key: str, relative: str | Path, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where}: key {key!r}: {relative} {problem}")

    def named(self, key: str, relative: str) -> Path:
        """The project path of a relative name, which must not climb out of the project."""
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise self.error(key, relative, "must be inside the project")
        path = self.project / relative
        if not os.path.lexists(path):
            raise self.error(key, relative, "does not exist")
        return path

    def matches(self, pattern: str) -> list[Path]:
        """The project paths a glob of ``include`` matches (none outside the project)."""
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise self.error("include", pattern, "must be inside the project")
        return sorted(self.project.glob(pattern))

    def files(self, key: str, path: Path) -> Iterator[Path]:
        """The regular files at ``path`` (itself, or every file below a directory), by their
        project path, each checked; a directory loop or anything else is refused."""
        pending: list[tuple[Path, frozenset[tuple[int, int]]]] = [(path, frozenset())]
        while pending:
            current, ancestors = pending.pop()
            relative = current.relative_to(self.project)
            info = self._resolve(key, current, relative)
            if stat.S_ISDIR(info.st_mode):
                identity = (info.st_dev, info.st_ino)
                if identity in ancestors:
                    raise self.error(key, relative, "is a symlinked directory loop")
                children = [
                    child
                    for child in sorted(current.iterdir(), reverse=True)
                    if child.name not in IGNORED_NAMES and child.suffix not in IGNORED_SUFFIXES
                ]
                pending += [(child, ancestors | {identity}) for child in children]
            elif stat.S_ISREG(info.st_mode):
                self._check_size(key, relative, info.st_size)
                yield current
            else:
                raise self.error(key, relative, f"is {_kind(info.st_mode)}, not a regular file")

    def _resolve(self, key: str, path: Path, relative: Path) -> os.stat_result:
        try:
            real = path.resolve(strict=True)
            info = real.stat()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
            reason = getattr(exc, "strerror", None) or str(exc)
            raise self.error(key, relative, f"cannot be read ({reason})") from None
        if not real.is_relative_to(self.root):
            raise self.error(key, relative, "is a symlink that leads outside the project")
        return info

    def _check_size(self, key: str, relative: Path, size: int) -> None:
        if size > self.max_file_bytes:
            raise self.error(
                key,
                relative,
                f"is {describe_size(size)}, over the limit of "
                f"{describe_size(self.max_file_bytes)} a file "
                f"(--max-file-size or ${MAX_FILE_ENV})",
            )

    def copy(self, key: str, source: Path, target: Path) -> None:
        """Copy the files at ``source`` to ``target`` (a file, or a directory's tree)."""
        for file in self.files(key, source):
            destination = target / file.relative_to(source) if file != source else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            self._copy_file(key, file, destination)

    def _copy_file(self, key: str, source: Path, target: Path) -> None:
        """Copy one regular file, refusing it if it stops being one or outgrows the limit."""
        relative = source.relative_to(self.project)
        try:
            self._copy_open(key, source, relative, target)
        except OSError as exc:
            raise self.error(key, relative, f"cannot be copied ({exc.strerror or exc})") from None

    def _copy_open(self, key: str, source: Path, relative: Path, target: Path) -> None:
        # O_NONBLOCK: a FIFO put in the file's place is opened without waiting for a writer.
        descriptor = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
        with open(descriptor, "rb") as reader, target.open("wb") as writer:
            info = os.fstat(reader.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise self.error(key, relative, f"is {_kind(info.st_mode)}, not a regular file")
            copied = 0
            while chunk := reader.read(_CHUNK):
                copied += len(chunk)
                self._check_size(key, relative, copied)
                writer.write(chunk)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file or directory"
