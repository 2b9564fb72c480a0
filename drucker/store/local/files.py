"""The local backend's named files: a directory with a crash-safe JSON index and an *active*
entry.

Writes go to a temporary file in the same directory, are checksummed while they stream,
fsynced and renamed into place, so a file is either complete or absent. The index
(``.index.json``) is replaced atomically under an exclusive lock, so several server processes
may share a store. A temporary upload is locked by its writer for as long as it is open; on
open, the store removes the ones no writer holds (of processes that died mid-upload).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from drucker.errors import AlreadyExistsError, InUseError, NotFoundError
from drucker.store.atomic import fsync_directory, sha256_of, write_json_atomically
from drucker.store.base import NamedFiles, StoredFile, UploadRequest
from drucker.store.names import validate_name
from drucker.store.receiving import Receiving
from drucker.store.scratch import open_locked, remove_unlocked

INDEX_NAME = ".index.json"
LOCK_NAME = ".lock"
TEMP_PREFIX = ".upload-"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


class LocalUpload(Receiving):
    """A file being received: chunks go to a locked temporary file in the store's directory.

    Use :meth:`LocalFiles.begin`; then :meth:`write` each chunk and :meth:`commit`, or
    :meth:`abort` (also done on any exception when used as a context manager).
    """

    def __init__(self, store: LocalFiles, request: UploadRequest) -> None:
        self._store = store
        super().__init__(request, *open_locked(store.directory, TEMP_PREFIX))

    def commit(self, expected_sha256: str | None = None) -> StoredFile:
        """Verify, fsync and rename the file into place, then record it in the index."""
        sha256 = self._verified_sha256(expected_sha256)
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        stored = StoredFile(self.name, self.size, sha256, time.time())
        target = self._store.directory / self.name
        replace_active, serving = self._request.replace_active, self._request.serving
        with self._store.locked_index() as index:
            if not replace_active and index.get("active") == self.name:
                raise AlreadyExistsError(f"{self.name} is the serving model; upload another name")
            serving_path = serving() if serving is not None else None
            if not replace_active and serving_path and _same_file(Path(serving_path), target):
                raise AlreadyExistsError(
                    f"{self.name} is the file the serving model was loaded from; "
                    "upload another name"
                )
            os.replace(self._path, target)
            fsync_directory(self._store.directory)
            index["files"][self.name] = attrs.asdict(stored)
        self._handle.close()  # releases the lock only now that the file is in place
        self._handle = None
        return stored


class LocalFiles(NamedFiles):
    """Named files in one directory, an index of their digests and one *active* name."""

    def __init__(self, directory: str | os.PathLike[str], what: str = "file") -> None:
        self.directory = Path(directory)
        self.what = what
        self.location = str(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_orphaned_uploads()
        self._reconcile()

    # -- index -------------------------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        path = self.directory / INDEX_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"files": {}, "active": None}
        return {"files": dict(data.get("files", {})), "active": data.get("active")}

    def _write_index(self, index: dict[str, Any]) -> None:
        write_json_atomically(self.directory / INDEX_NAME, index)

    @contextlib.contextmanager
    def locked_index(self) -> Iterator[dict[str, Any]]:
        """Read the index under an exclusive lock; write it back when the block succeeds."""
        with (self.directory / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = self._read_index()
                before = json.dumps(index, sort_keys=True)
                yield index
                if json.dumps(index, sort_keys=True) != before:
                    self._write_index(index)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _remove_orphaned_uploads(self) -> None:
        """Remove temporary files no writer holds: uploads and index copies of dead writers."""
        remove_unlocked(self.directory.glob(f"{TEMP_PREFIX}*"))
        # The index is only written under the index lock, so its copies seen under it are dead.
        with self.locked_index():
            for path in self.directory.glob(f".{INDEX_NAME}.*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _reconcile(self) -> None:
        """Forget indexed files that vanished; adopt files placed in the directory by hand."""
        with self.locked_index() as index:
            files = index["files"]
            for name in [n for n in files if not (self.directory / n).is_file()]:
                del files[name]
            if index["active"] not in files:
                index["active"] = None
            for path in self.directory.iterdir():
                if path.name.startswith(".") or path.name in files or not path.is_file():
                    continue
                stat = path.stat()
                stored = StoredFile(path.name, stat.st_size, sha256_of(path), stat.st_mtime)
                files[path.name] = attrs.asdict(stored)

    # -- queries -----------------------------------------------------------------------------

    def list(self) -> list[StoredFile]:
        """Every stored file, by name."""
        files = self._read_index()["files"]
        return [StoredFile(**files[name]) for name in sorted(files)]

    def get(self, name: str) -> StoredFile:
        """One stored file. :raises NotFoundError: when there is none by that name."""
        validate_name(name, f"{self.what} name")
        entry = self._read_index()["files"].get(name)
        if entry is None or not (self.directory / name).is_file():
            raise NotFoundError(f"no {self.what} named {name!r}")
        return StoredFile(**entry)

    def path(self, name: str) -> Path:
        """The path of a stored file (which must exist)."""
        return self.directory / self.get(name).name

    @property
    def active(self) -> str | None:
        """The active name, if one was set and its file still exists."""
        name = self._read_index()["active"]
        return name if name and (self.directory / name).is_file() else None

    # -- changes -----------------------------------------------------------------------------

    def _receive(self, request: UploadRequest) -> LocalUpload:
        """Neither the active file nor the file at the path ``request.serving()`` names (the
        one actually in use) can be replaced, unless ``request.replace_active``."""
        return LocalUpload(self, request)

    def delete(self, name: str) -> StoredFile:
        """Remove a stored file; the active one is refused.

        :raises NotFoundError: when there is none by that name.
        :raises InUseError: when it is the active file.
        """
        stored = self.get(name)
        with self.locked_index() as index:
            if index.get("active") == name:
                raise InUseError(f"{name} is the active {self.what}; switch to another first")
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
            fsync_directory(self.directory)
            index["files"].pop(name, None)
        return stored
