"""The store interface: what management, the switch and evaluation need, whatever the backend.

Two backends implement it, built the same way: a local directory (:mod:`drucker.store.local`,
the embedded default) and object storage through fsspec (:mod:`drucker.store.remote`: S3, GCS,
a shared file system). Each has its ``…Files`` (named files whose digests are recorded in an
index), its ``…ModelStore`` (those files, plus one *active-model record* changed only by
compare-and-set and a switch history) and its ``…Results``. The types they share live here,
so this module imports no backend.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import attrs

from drucker.errors import (
    ConflictError,
    DruckerError,
    NotFoundError,
    StoreUnavailableError,
    storage_error,
)
from drucker.store.names import validate_name

__all__ = [
    "ActiveRecord",
    "ConflictError",
    "ModelStore",
    "NamedFiles",
    "PendingUpload",
    "Results",
    "StoreUnavailableError",
    "StoredFile",
    "SwitchEvent",
    "UploadRequest",
    "storage_failures",
]


@attrs.frozen
class StoredFile:
    """One file of the store."""

    name: str
    size: int
    sha256: str
    stored_at: float


@attrs.frozen
class UploadRequest:
    """A file to receive: its name, its size limit and what it may replace.

    Unless ``replace_active``, the active file and the one ``serving()`` names (the file a
    model serves from, where a backend serves from the stored file itself) cannot be replaced.
    """

    name: str
    max_bytes: int
    replace_active: bool = False
    serving: Callable[[], str | None] | None = None


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
    traffic: str = ""  # a traffic policy change ("split a=90 b=10"), not a switch


class PendingUpload(Protocol):
    """A file being received; :meth:`commit` makes it visible, :meth:`abort` forgets it."""

    name: str

    def write(self, chunk: bytes) -> None: ...

    def commit(self, expected_sha256: str | None = None) -> StoredFile: ...

    def abort(self) -> None: ...

    def __enter__(self) -> PendingUpload: ...

    def __exit__(self, *exc: object) -> None: ...


class NamedFiles(abc.ABC):
    """Named, checksummed files (models or evaluation data)."""

    what: str  # what the files are, for messages: "model", "evaluation data"
    location: str  # for logs: a directory or a URL without credentials

    @abc.abstractmethod
    def list(self) -> list[StoredFile]:
        """Every stored file, by name."""

    @abc.abstractmethod
    def get(self, name: str) -> StoredFile:
        """One stored file. :raises NotFoundError: when there is none by that name."""

    @abc.abstractmethod
    def path(self, name: str) -> Path:
        """A local path holding the stored file ``name`` (which must exist)."""

    @abc.abstractmethod
    def delete(self, name: str) -> StoredFile:
        """Remove a stored file. :raises NotFoundError: when there is none by that name.

        :raises InUseError: for the active model.
        """

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
        validate_name(name, f"{self.what} name")
        return self._receive(UploadRequest(name, max_bytes, replace_active, serving))

    @abc.abstractmethod
    def _receive(self, request: UploadRequest) -> PendingUpload:
        """The backend's upload for ``request`` (its name already validated)."""


class ModelStore(NamedFiles):
    """Models, the active-model record and the switch history."""

    @property
    @abc.abstractmethod
    def active(self) -> str | None:
        """The name in the active-model record, if any."""

    @abc.abstractmethod
    def active_record(self) -> ActiveRecord | None:
        """The active-model record as stored now (a fresh read)."""

    @abc.abstractmethod
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

    @abc.abstractmethod
    def set_active(self, stored: StoredFile) -> ActiveRecord | None:
        """Make ``stored`` the active model by compare-and-set; return the record it replaced.

        A concurrent change of the record is never lost or mixed: the write is retried on the
        record as it is then, so the result is one of the switches asked for.

        :raises ConflictError: when ``stored.name`` no longer holds ``stored``'s bytes where
            that matters (an upload replaced it during the switch).
        :raises StoreUnavailableError: when the record cannot be written; it is then unchanged.
        """

    @abc.abstractmethod
    def record_switch(self, event: SwitchEvent) -> None:
        """Append ``event`` to the switch history."""

    @abc.abstractmethod
    def history(self) -> list[SwitchEvent]:
        """The switch history, oldest first."""

    @abc.abstractmethod
    def traffic_record(self) -> dict[str, Any] | None:
        """The traffic policy record beside the active-model record (a fresh read), or
        ``None``. :raises StoreUnavailableError: when it cannot be read."""

    @abc.abstractmethod
    def set_traffic_record(self, record: dict[str, Any] | None) -> None:
        """Replace the traffic policy record whole (atomically: a reader sees the old record
        or the new one); ``None`` removes it. :raises StoreUnavailableError: when it cannot
        be written; it is then unchanged."""


RESULT_READ_ATTEMPTS = 3  # a concurrent write may replace a result between its two reads


class Results(abc.ABC):
    """Named evaluation results: a summary and the per-sample records it was computed from.

    A result ``NAME`` is its records (JSON lines, written once under a name of their own,
    ``NAME.<token>.jsonl``) and a summary naming them, replaced whole only after they are
    complete, so a reader always finds a summary and the records it was computed from.
    """

    def write(
        self,
        name: str,
        records: Iterable[dict[str, Any]],
        summarize: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Store ``records`` and then ``summarize()`` under ``name``; the summary.

        ``summarize`` is called after the last record; when it (or the records) raise, nothing
        is stored and the previous result of that name stays.
        """
        details = f"{name}.{os.urandom(6).hex()}.jsonl"
        with self._staged(name, details) as out:
            for record in records:
                out.write(json.dumps(record, default=str) + "\n")
            summary = summarize()
        self._publish(name, details, summary)
        return summary

    def read(self, name: str) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        """The summary and its records (streamed). :raises NotFoundError: for no such result."""
        for _ in range(RESULT_READ_ATTEMPTS):
            found = self._open(name)
            if found is not None:
                summary, handle = found
                return summary, _json_lines(handle)
        raise self._missing(name)

    @staticmethod
    def _missing(name: str) -> NotFoundError:
        return NotFoundError(f"no evaluation result named {name!r}")

    @abc.abstractmethod
    def _staged(self, name: str, details: str) -> contextlib.AbstractContextManager[IO[str]]:
        """A text file for the records ``details`` of result ``name``: kept when the block
        succeeds (where :meth:`_publish` finds it), gone when it raises.

        :raises InvalidNameError: for an unsafe ``name`` (before any record is read).
        """

    @abc.abstractmethod
    def _publish(self, name: str, details: str, summary: dict[str, Any]) -> None:
        """Make ``summary``, naming the staged records ``details``, the result ``name``."""

    @abc.abstractmethod
    def _open(self, name: str) -> tuple[dict[str, Any], IO[bytes] | IO[str]] | None:
        """The summary and an open handle on its records; ``None`` to try again (the records
        were replaced meanwhile). :raises NotFoundError: when there is no such result."""


def _json_lines(handle: IO[bytes] | IO[str]) -> Iterator[dict[str, Any]]:
    with handle:
        for line in handle:
            yield json.loads(line)


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
