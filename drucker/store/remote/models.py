"""Models in object storage: the named files, plus the shared active-model record and the
switch history (one object per switch), so every replica follows the same model."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from drucker.errors import AlreadyExistsError, InUseError
from drucker.store.base import ActiveRecord, ModelStore, StoredFile, SwitchEvent
from drucker.store.cache import ObjectCache
from drucker.store.history import event_from_json, event_to_json
from drucker.store.names import validate_name
from drucker.store.remote.files import RemoteFiles
from drucker.store.remote.records import Backend, remote_errors

T = TypeVar("T")


def _record_of(data: Any) -> ActiveRecord | None:
    if not data:
        return None
    return ActiveRecord(
        data["name"], data["sha256"], int(data.get("generation", 0)), data.get("switched_at", 0.0)
    )


class RemoteModelStore(RemoteFiles, ModelStore):
    """Models in object storage, with the shared active-model record and switch history."""

    def __init__(self, backend: Backend, cache: ObjectCache) -> None:
        super().__init__(backend, "models", "model", cache)
        self._active_path = backend.path("models", "active.json")
        self._history = backend.path("models", "history")
        self._traffic_path = backend.path("models", "traffic.json")
        self._seen: tuple[str | None, ActiveRecord | None] = (None, None)
        self._seen_traffic: tuple[str | None, dict[str, Any] | None] = (None, None)

    def _refuse_replacing(self, name: str) -> None:
        if self.active == name:
            raise AlreadyExistsError(f"{name} is the serving model; upload another name")

    def _refuse_deleting(self, name: str) -> None:
        if self.active == name:
            raise InUseError(f"{name} is the active model; switch to another first")

    @property
    def active(self) -> str | None:
        record = self.active_record()
        return record.name if record else None

    def active_record(self) -> ActiveRecord | None:
        """The record as stored now: a HEAD per call, a GET only when it changed."""
        with remote_errors("cannot read the active-model record"):
            self._seen = self._read_if_changed(self._active_path, self._seen, _record_of)
        return self._seen[1]

    def _read_if_changed(
        self, path: str, seen: tuple[str | None, T | None], parse: Callable[[Any], T | None]
    ) -> tuple[str | None, T | None]:
        """``(etag, record)`` of the record at ``path``: ``seen`` again while its ETag is the
        same (one HEAD), else the stored record read and parsed (a GET)."""
        etag = self.backend.etag(path)
        if etag is not None and etag == seen[0]:
            return seen
        if etag is None and self.backend.conditional_writes:
            return None, None  # no record yet (the HEAD said so; no GET needed)
        data, token = self.backend.read(path)
        return token, parse(data)

    @contextlib.contextmanager
    def checkout(self, name: str, sha256: str | None = None) -> Iterator[tuple[StoredFile, Path]]:
        """The verified cached copy of ``name`` (or of digest ``sha256`` stored as ``name``)."""
        validate_name(name, "model name")
        if sha256 is None:
            stored = self.get(name)
        else:
            entry = self._files().get(name)
            stored = StoredFile(**entry) if entry else StoredFile(name, 0, sha256, 0.0)
            if stored.sha256 != sha256:  # a later upload reused the name; the object stays
                stored = StoredFile(name, 0, sha256, 0.0)
        yield stored, self.fetch(stored.sha256, stored.name)

    def set_active(self, stored: StoredFile) -> ActiveRecord | None:
        """Point the active record at ``stored``'s digest; return the record it replaced."""

        def change(data: Any) -> Any:
            previous = _record_of(data)
            return {
                "name": stored.name,
                "sha256": stored.sha256,
                "generation": (previous.generation + 1) if previous else 1,
                "switched_at": time.time(),
            }

        with remote_errors("cannot record the active model"):
            old, _new = self.backend.update(self._active_path, change)
        return _record_of(old)

    def record_switch(self, event: SwitchEvent) -> None:
        name = f"{time.time_ns():020d}-{os.urandom(4).hex()}.json"
        with remote_errors("cannot record the switch history"):
            self.backend.fs.pipe_file(f"{self._history}/{name}", event_to_json(event))

    def history(self) -> list[SwitchEvent]:
        fs = self.backend.fs
        with remote_errors("cannot read the switch history"):
            try:
                paths = sorted(fs.ls(self._history, detail=False, refresh=True))
            except FileNotFoundError:
                return []
            bodies = fs.cat(paths) if paths else {}
        events = (event_from_json(bodies[path]) for path in paths if path in bodies)
        return [event for event in events if event is not None]

    def traffic_record(self) -> dict[str, Any] | None:
        """The policy as stored now: a HEAD per call, a GET only when its ETag changed (every
        follow interval reads it, as the active record)."""
        with remote_errors("cannot read the traffic policy"):
            self._seen_traffic = self._read_if_changed(
                self._traffic_path, self._seen_traffic, _policy_of
            )
        return self._seen_traffic[1]

    def set_traffic_record(self, record: dict[str, Any] | None) -> None:
        with remote_errors("cannot record the traffic policy"):
            self.backend.update(self._traffic_path, lambda _old: record or {})


def _policy_of(data: Any) -> dict[str, Any] | None:
    return data if isinstance(data, dict) and data else None
