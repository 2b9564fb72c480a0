"""Evaluation results in object storage (the store's ``results/``), next to the models."""

from __future__ import annotations

import contextlib
import datetime
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from drucker.store.base import DETAILS_KEY, SUMMARY_SUFFIX, Results
from drucker.store.names import validate_name
from drucker.store.remote.records import Backend, remote_errors
from drucker.store.scratch import open_locked


class RemoteResults(Results):
    """Evaluation results in the store, so any replica answers for an evaluation run on
    another: ``results/<name>.<token>.jsonl`` (the records, written once under a name of their
    own) and ``results/<name>.summary.json`` (the summary naming its records, replaced by
    compare-and-set after the records are complete; the records it replaced are removed)."""

    def __init__(self, backend: Backend, spool: Path) -> None:
        self.backend = backend
        self.spool = spool

    def _summary(self, name: str) -> str:
        validate_name(name, "result name")
        return self.backend.path("results", name + SUMMARY_SUFFIX)

    @contextlib.contextmanager
    def _staged(self, name: str, details: str) -> Iterator[IO[str]]:
        """The records are spooled to local disk (locked while they are, so that a sweep
        removes them only after a crash), then put into the store whole."""
        self._summary(name)
        self.spool.mkdir(parents=True, exist_ok=True)
        local, handle = open_locked(self.spool, "result-")
        with io.TextIOWrapper(handle, encoding="utf-8") as out:
            try:
                yield out
                out.flush()
                with remote_errors(f"cannot store the evaluation result {name}"):
                    self.backend.fs.put_file(str(local), self.backend.path("results", details))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    local.unlink()

    def _publish(self, name: str, details: str, summary: dict[str, Any]) -> None:
        """The summary is replaced by compare-and-set; the records it named are removed."""
        with remote_errors(f"cannot store the evaluation result {name}"):
            old, _ = self.backend.update(
                self._summary(name), lambda _: {**summary, DETAILS_KEY: details}
            )
        replaced = (old or {}).get(DETAILS_KEY)
        if replaced and replaced != details:
            with contextlib.suppress(Exception):  # a leftover costs space, nothing else
                self.backend.fs.rm(self.backend.path("results", replaced))

    def _names(self) -> list[tuple[str, float]]:
        with remote_errors("cannot list the evaluation results"):
            try:
                entries = self.backend.fs.ls(self.backend.path("results"), detail=True)
            except FileNotFoundError:  # nothing stored yet
                return []
        return [
            (entry["name"].rsplit("/", 1)[-1].removesuffix(SUMMARY_SUFFIX), _modified(entry))
            for entry in entries
            if entry["name"].endswith(SUMMARY_SUFFIX)
        ]

    def _summary_of(self, name: str) -> dict[str, Any] | None:
        with remote_errors(f"cannot read the evaluation result {name}"):
            data: dict[str, Any] | None = self.backend.read(self._summary(name))[0]
        return data

    def _open(self, name: str) -> tuple[dict[str, Any], IO[bytes]] | None:
        """The records are downloaded whole here (called in a thread), so streaming them to
        the caller reads a local file; unlinked at once, it vanishes when they are read."""
        summary_path = self._summary(name)
        self.spool.mkdir(parents=True, exist_ok=True)
        local, lock = open_locked(self.spool, "read-")
        with lock:  # held until the download is open and unlinked
            try:
                with remote_errors(f"cannot read the evaluation result {name}"):
                    data = self.backend.read(summary_path)[0]
                    if data is None:
                        raise self._missing(name)
                    try:
                        details = self.backend.path("results", data.pop(DETAILS_KEY))
                        self.backend.fs.get_file(details, str(local))
                    except FileNotFoundError:
                        return None
                return data, local.open("rb")
            finally:
                local.unlink(missing_ok=True)


def _modified(entry: dict[str, Any]) -> float:
    """Seconds since the epoch at which a listed object was written (0 when not said): S3's
    ``LastModified`` is a datetime, a file system's ``mtime`` or ``created`` a number."""
    value = entry.get("LastModified", entry.get("mtime", entry.get("created")))
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value) if isinstance(value, int | float) else 0.0
