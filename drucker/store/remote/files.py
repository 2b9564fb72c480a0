"""Named files in object storage: immutable objects under their digest and an index of names,
changed by compare-and-set; objects are downloaded into the replica's :class:`ObjectCache`,
verified, and used from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from drucker.errors import NotFoundError
from drucker.store.base import NamedFiles, StoredFile, UploadRequest
from drucker.store.cache import ObjectCache
from drucker.store.names import validate_name
from drucker.store.remote.records import Backend, remote_errors
from drucker.store.remote.spool import SPOOL_DIRECTORY, RemoteUpload, sweep_spool


class RemoteFiles(NamedFiles):
    """Named files in object storage: immutable objects by digest and an index of names."""

    def __init__(self, backend: Backend, kind: str, what: str, cache: ObjectCache) -> None:
        self.backend = backend
        self.kind = kind
        self.what = what
        self.cache = cache
        self.location = backend.path(kind)
        self._index = backend.path(kind, "index.json")
        sweep_spool(cache.directory / SPOOL_DIRECTORY)  # uploads of processes that died

    def object_path(self, sha256: str) -> str:
        return self.backend.path(self.kind, "objects", sha256)

    def _files(self) -> dict[str, Any]:
        with remote_errors(f"cannot read the {self.what} index"):
            index = self.backend.read(self._index)[0] or {}
        return dict(index.get("files", {}))

    def list(self) -> list[StoredFile]:
        """Every stored file, by name."""
        files = self._files()
        return [StoredFile(**files[name]) for name in sorted(files)]

    def get(self, name: str) -> StoredFile:
        """One stored file. :raises NotFoundError: when there is none by that name."""
        validate_name(name, f"{self.what} name")
        entry = self._files().get(name)
        if entry is None:
            raise NotFoundError(f"no {self.what} named {name!r}")
        return StoredFile(**entry)

    def path(self, name: str) -> Path:
        """A verified local copy of the stored file ``name``."""
        stored = self.get(name)
        return self.fetch(stored.sha256, stored.name)

    def fetch(self, sha256: str, name: str) -> Path:
        """A verified local copy of the object ``sha256`` (downloaded once per cache)."""
        source = self.object_path(sha256)

        def download(target: Path) -> None:
            with remote_errors(f"cannot download {name}"):
                try:
                    self.backend.fs.get_file(source, str(target))
                except FileNotFoundError:
                    raise NotFoundError(f"the store has no object {sha256} ({name})") from None

        return self.cache.get(sha256, name, download)

    def _receive(self, request: UploadRequest) -> RemoteUpload:
        """``request.serving`` is not needed here: a model serves from its digest, which no
        upload changes."""
        return RemoteUpload(request, self.cache.directory / SPOOL_DIRECTORY, self._keep)

    def _keep(self, spooled: Path, stored: StoredFile, request: UploadRequest) -> None:
        """Put the object into the store (if it is not there yet), then index it."""
        fs = self.backend.fs
        with remote_errors(f"cannot store {stored.name}"):
            target = self.object_path(stored.sha256)
            fs.invalidate_cache(target)
            if not fs.exists(target):
                fs.put_file(str(spooled), target)
            self.add(stored, request.replace_active)

    def _refuse_replacing(self, name: str) -> None:
        """Hook for the model store: refuse to index ``name`` anew while it is active."""

    def _refuse_deleting(self, name: str) -> None:
        """Hook for the model store: refuse to delete ``name`` while it is active."""

    def delete(self, name: str) -> StoredFile:
        """Remove ``name`` from the index (compare-and-set); its object stays, as other names
        may share it. :raises NotFoundError: when there is none by that name."""
        stored = self.get(name)

        def change(index: Any) -> Any:
            index = dict(index or {})
            files = dict(index.get("files", {}))
            if name not in files:
                raise NotFoundError(f"no {self.what} named {name!r}")
            self._refuse_deleting(name)
            del files[name]
            return {**index, "files": files}

        with remote_errors(f"cannot delete {name}"):
            self.backend.update(self._index, change)
        return stored

    def add(self, stored: StoredFile, replace_active: bool) -> None:
        """Index ``stored`` under its name (compare-and-set)."""

        def change(index: Any) -> Any:
            index = dict(index or {})
            files = dict(index.get("files", {}))
            if not replace_active:
                self._refuse_replacing(stored.name)
            files[stored.name] = attrs.asdict(stored)
            return {**index, "files": files}

        with remote_errors(f"cannot index {stored.name}"):
            self.backend.update(self._index, change)
