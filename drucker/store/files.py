"""The former home of the local backend's named files, kept so that old imports work: see
:mod:`drucker.store.local.files` (:class:`LocalFiles`) and :mod:`drucker.store.base`
(:class:`StoredFile`)."""

from __future__ import annotations

from drucker.store.base import StoredFile
from drucker.store.local.files import INDEX_NAME, LOCK_NAME, TEMP_PREFIX, LocalFiles, LocalUpload

__all__ = ["INDEX_NAME", "LOCK_NAME", "TEMP_PREFIX", "FileStore", "StoredFile", "Upload"]

Upload = LocalUpload


class FileStore(LocalFiles):
    """:class:`LocalFiles` under its former name, with its former ``set_active(name)``."""

    def set_active(self, name: str) -> None:
        """Record ``name`` as the active file (persisted)."""
        self.get(name)
        with self.locked_index() as index:
            index["active"] = name
