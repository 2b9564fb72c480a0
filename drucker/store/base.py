"""The store interface: what management, the switch and evaluation need, whatever the backend.

Two backends implement it: a local directory (:mod:`drucker.store.local`, the embedded
default) and object storage through fsspec (:mod:`drucker.store.remote`: S3, GCS, a shared
file system). Both keep named files whose digests are recorded in an index, one *active-model
record* changed only by compare-and-set, and a switch history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs

from drucker.errors import ConflictError, DruckerError, StoreUnavailableError, storage_error
from drucker.store.files import StoredFile

__all__ = [
    "ActiveRecord",
    "ConflictError",
    "ModelStore",
    "NamedFiles",
    "PendingUpload",
    "Results",
    "StoreUnavailableError",
    "SwitchEvent",
    "storage_failures",
]


@attrs.frozen
class ActiveRecord:
    """Which model all replicas should serve: a name and the exact bytes (by digest)."""

    name: str
    sha256: str
    generation: int = 0
    switched_at: float = 0.0


@attrs.frozen
class SwitchEvent:
    """One entry of the switch history."""

    at: float
    to_name: str
    to_sha256: str
    from_name: str | None
    from_sha256: str | None
    by: str
    result: str  # "ok", or "failed: <reason>"
    rollback: bool = False  # a step back through the history, not a switch forward


class PendingUpload(Protocol):
    """A file being received; :meth:`commit` makes it visible, :meth:`abort` forgets it."""

    name: str

    def write(self, chunk: bytes) -> None: ...

    def commit(self, expected_sha256: str | None = None) -> StoredFile: ...

    def abort(self) -> None: ...

    def __enter__(self) -> PendingUpload: ...

    def __exit__(self, *exc: object) -> None: ...


class NamedFiles(Protocol):
    """Named, checksummed files (models or evaluation data)."""

    what: str

    def list(self) -> list[StoredFile]: ...

    def get(self, name: str) -> StoredFile: ...

    def path(self, name: str) -> Path: ...

    def delete(self, name: str) -> StoredFile:
        """Remove a stored file. :raises NotFoundError: when there is none by that name.

        :raises InUseError: for the active model.
        """
        ...

    def begin(
        self,
        name: str,
        max_bytes: int,
        *,
        replace_active: bool = False,
        serving: Callable[[], str | None] | None = None,
    ) -> PendingUpload:
        """Start receiving a file. :raises InvalidNameError: for an unsafe name.

        Unless ``replace_active``, the active file and the one ``serving()`` names (the file
        a model serves from) cannot be replaced.
        """
        ...


class ModelStore(NamedFiles, Protocol):
    """Models, the active-model record and the switch history."""

    location: str  # for logs: a directory or a URL without credentials

    @property
    def active(self) -> str | None:
        """The name in the active-model record, if any."""
        ...

    def active_record(self) -> ActiveRecord | None:
        """The active-model record as stored now (a fresh read)."""
        ...

    def checkout(
        self, name: str, sha256: str | None = None
    ) -> contextlib.AbstractContextManager[tuple[StoredFile, Path]]:
        """The stored model ``name`` and a local path holding exactly its verified bytes, for
        as long as the block runs (an upload of the same name cannot change them). With
        ``sha256``, the bytes of that digest (stored under ``name``) are wanted.

        :raises NotFoundError: when there is no such model (or no longer those bytes).
        :raises ModelLoadError: when the stored bytes do not match their digest.
        :raises StoreUnavailableError: when the store cannot be read.
        """
        ...

    def set_active(self, stored: StoredFile) -> ActiveRecord | None:
        """Make ``stored`` the active model by compare-and-set; return the record it replaced.

        A concurrent change of the record is never lost or mixed: the write is retried on the
        record as it is then, so the result is one of the switches asked for.

        :raises ConflictError: when ``stored.name`` no longer holds ``stored``'s bytes where
            that matters (an upload replaced it during the switch).
        :raises StoreUnavailableError: when the record cannot be written; it is then unchanged.
        """
        ...

    def record_switch(self, event: SwitchEvent) -> None:
        """Append ``event`` to the switch history."""
        ...

    def history(self) -> list[SwitchEvent]:
        """The switch history, oldest first."""
        ...


class Results(Protocol):
    """Named evaluation results: a summary and the per-sample records it was computed from."""

    def write(
        self,
        name: str,
        records: Iterable[dict[str, Any]],
        summarize: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Store ``records`` and then ``summarize()`` under ``name``; the summary."""
        ...

    def read(self, name: str) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        """The summary and its records (streamed). :raises NotFoundError: for no such result."""
        ...


@contextlib.contextmanager
def storage_failures(action: str) -> Iterator[None]:
    """Turn an ``OSError`` of local storage (a full disk, an I/O error) into the drucker error
    :func:`drucker.errors.storage_error` picks for it, saying what was being done."""
    try:
        yield
    except DruckerError:
        raise
    except OSError as error:
        failure = storage_error(error)
        raise type(failure)(f"{action}: {failure}") from None
