"""A replica's local content-addressed cache of store objects, checked on every use.

An object is kept as ``<cache dir>/<sha256><suffix>`` (the suffix of the name it was stored
under, for plugins that look at it). Its digest is verified after each download and again
before each use, so a corrupted entry is noticed and fetched again, and bytes that do not match
their digest are never handed out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from drucker.errors import ModelLoadError
from drucker.store.atomic import sha256_of, temporary_path


class ObjectCache:
    """Verified local copies of store objects, by digest."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, sha256: str, name: str) -> Path:
        """Where the object ``sha256`` (stored under ``name``) lives in the cache."""
        return self.directory / f"{sha256}{Path(name).suffix}"

    def get(self, sha256: str, name: str, download: Callable[[Path], None]) -> Path:
        """The cached, verified copy of ``sha256``; ``download(path)`` fetches it when the cache
        has none (or a corrupted one).

        :raises ModelLoadError: when the downloaded bytes do not match ``sha256``; the cache is
            then left without the object.
        """
        target = self.path_for(sha256, name)
        with contextlib.suppress(FileNotFoundError):
            if sha256_of(target) == sha256:
                return target
            target.unlink()  # corrupted: fetched again below
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = temporary_path(target)
        try:
            download(temp)
            actual = sha256_of(temp)
            if actual != sha256:
                raise ModelLoadError(
                    f"{name}: the stored object has sha256 {actual}, not {sha256}; refused"
                )
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return target

    def add(self, name: str, download: Callable[[Path], None]) -> tuple[Path, str]:
        """Download an object whose digest is not known beforehand; its path and digest."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = temporary_path(self.directory / name)
        try:
            download(temp)
            sha256 = sha256_of(temp)
            target = self.path_for(sha256, name)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return target, sha256
