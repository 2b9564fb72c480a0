"""The local backend of the model store: a :class:`LocalFiles` directory, its index's active
entry as the active-model record, and a JSON-lines switch history beside it.

Several processes on one machine (``--workers``) share it safely: every change of the record
happens under the index's exclusive lock, which is what makes it a compare-and-set.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drucker.errors import ConflictError, ModelLoadError, NotFoundError, StorageError
from drucker.store.atomic import sha256_of, write_json_atomically
from drucker.store.base import ActiveRecord, ModelStore, StoredFile, SwitchEvent, storage_failures
from drucker.store.history import HistoryFile
from drucker.store.local.files import LocalFiles
from drucker.store.names import validate_name

HISTORY_NAME = ".history.jsonl"
TRAFFIC_NAME = ".traffic.json"
SNAPSHOT_PREFIX = ".snapshot-"
STALE_SNAPSHOT_SECONDS = 3600.0


class LocalModelStore(LocalFiles, ModelStore):
    """Models in a local directory (the embedded default backend)."""

    def __init__(self, directory: str | os.PathLike[str], what: str = "model") -> None:
        super().__init__(directory, what)
        self._history = HistoryFile(self.directory / HISTORY_NAME)
        self._remove_stale_snapshots()

    def _remove_stale_snapshots(self) -> None:
        # A snapshot is a hard link made for one load; creating it sets the inode's ctime, so one
        # older than any load could take was left by a process that died while loading.
        limit = STALE_SNAPSHOT_SECONDS
        for path in self.directory.glob(f"{SNAPSHOT_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_ctime < time.time() - limit:
                    path.unlink()

    # -- the active-model record -----------------------------------------------------------------

    def active_record(self) -> ActiveRecord | None:
        with storage_failures("cannot read the model store index"):
            name = self.active
            if name is None:
                return None
            try:
                stored = self.get(name)
            except NotFoundError:
                return None
        return ActiveRecord(stored.name, stored.sha256)

    @contextlib.contextmanager
    def checkout(self, name: str, sha256: str | None = None) -> Iterator[tuple[StoredFile, Path]]:
        """A hard link to the file as indexed now, so an upload of the same name (a rename over
        it) cannot change the bytes that are loaded; its digest is checked before use."""
        validate_name(name, "model name")
        directory = self.directory
        link = directory / f"{SNAPSHOT_PREFIX}{os.urandom(6).hex()}{Path(name).suffix}"
        with (
            storage_failures(f"cannot read model {name}"),
            self.locked_index() as index,
        ):
            entry = index["files"].get(name)
            if entry is None or not (directory / name).is_file():
                raise NotFoundError(f"no model named {name!r}")
            stored = StoredFile(**entry)
            if sha256 is not None and stored.sha256 != sha256:
                raise NotFoundError(
                    f"model {name} now holds other bytes (sha256 {stored.sha256}) than "
                    f"{sha256}; a local store keeps only the latest upload of a name"
                )
            try:
                os.link(directory / name, link)
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
                    raise
                shutil.copyfile(directory / name, link)  # a file system without hard links
        try:
            with storage_failures(f"cannot read model {name}"):
                actual = sha256_of(link)
            if actual != stored.sha256:
                raise ModelLoadError(
                    f"{name} has sha256 {actual} on disk, not {stored.sha256} as stored; refused"
                )
            yield stored, link
        finally:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()

    def set_active(self, stored: StoredFile) -> ActiveRecord | None:
        """Record ``stored`` as active if its name still holds its bytes; the previous record."""
        with (
            storage_failures("cannot record the active model"),
            self.locked_index() as index,
        ):
            entry = index["files"].get(stored.name)
            if entry is None or entry["sha256"] != stored.sha256:
                raise ConflictError(
                    f"{stored.name} was replaced by an upload during the switch; switch again"
                )
            previous_name = index["active"]
            previous = index["files"].get(previous_name) if previous_name else None
            index["active"] = stored.name
        return ActiveRecord(previous_name, previous["sha256"]) if previous else None

    # -- history -------------------------------------------------------------------------------

    def record_switch(self, event: SwitchEvent) -> None:
        with storage_failures("cannot record the switch history"):
            self._history.append(event)

    def history(self) -> builtins.list[SwitchEvent]:
        with storage_failures("cannot read the switch history"):
            return self._history.read()

    # -- the traffic policy record ---------------------------------------------------------------

    def traffic_record(self) -> dict[str, Any] | None:
        with storage_failures("cannot read the traffic policy"):
            try:
                text = (self.directory / TRAFFIC_NAME).read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
        try:
            data = json.loads(text)  # written whole by a rename: never half a record
        except ValueError:
            raise StorageError(f"the traffic policy record {TRAFFIC_NAME} is not JSON") from None
        return data if isinstance(data, dict) and data else None

    def set_traffic_record(self, record: dict[str, Any] | None) -> None:
        with storage_failures("cannot record the traffic policy"):
            write_json_atomically(self.directory / TRAFFIC_NAME, record or {})
