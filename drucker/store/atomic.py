"""Crash-safe file writes shared by the stores: unique temporary names, fsync, atomic rename."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in blocks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def temporary_path(target: Path) -> Path:
    """A name beside ``target`` that no other writer (thread or process) uses."""
    return target.with_name(f".{target.name}.{os.getpid()}-{os.urandom(6).hex()}.tmp")


@contextlib.contextmanager
def atomic_writer(target: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file that replaces ``target`` whole when the block succeeds, and vanishes otherwise."""
    temp = temporary_path(target)
    try:
        with temp.open(mode.replace("w", "x")) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
        fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_json_atomically(target: Path, data: Any) -> None:
    """Replace ``target`` with ``data`` as JSON, durably and atomically."""
    with atomic_writer(target, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
