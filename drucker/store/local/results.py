"""Evaluation results as data: per-sample records (JSON lines) and a summary (JSON).

A result ``NAME`` is two files in the results directory: ``NAME.<token>.jsonl``, the details,
written once under a name of their own, and ``NAME.summary.json``, the summary that names its
details file. The summary is replaced atomically after its details are complete, under a lock,
so a reader always finds a summary and the details it was computed from, even while several
evaluations write the same result name at once (the last one wins, whole).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from drucker.store.atomic import atomic_writer, fsync_directory, write_json_atomically
from drucker.store.base import DETAILS_KEY, SUMMARY_SUFFIX, Results
from drucker.store.names import MAX_NAME_LENGTH, validate_name

LOCK_NAME = ".lock"
# Room for a data name of the longest kind and a suffix such as the default ".result"; the
# file names built from it (a token and ".jsonl" or ".summary.json") stay far below 255 bytes.
MAX_RESULT_NAME_LENGTH = MAX_NAME_LENGTH + 32


class LocalResults(Results):
    """Named evaluation results in one directory (created on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _summary_path(self, name: str) -> Path:
        validate_name(name, "result name", MAX_RESULT_NAME_LENGTH)
        return self.directory / f"{name}{SUMMARY_SUFFIX}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.directory / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _staged(self, name: str, details: str) -> contextlib.AbstractContextManager[IO[str]]:
        """The records are written to the results directory, durably, under their own name."""
        self._summary_path(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        return atomic_writer(self.directory / details, "w")

    def _publish(self, name: str, details: str, summary: dict[str, Any]) -> None:
        summary_path = self._summary_path(name)
        with self._locked():
            previous = self._details_file(summary_path)
            write_json_atomically(summary_path, {**summary, DETAILS_KEY: details})
            if previous is not None and previous != details:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / previous).unlink()
                fsync_directory(self.directory)

    def _details_file(self, summary_path: Path) -> str | None:
        try:
            data = json.loads(summary_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        details = data.get(DETAILS_KEY)
        return details if isinstance(details, str) else None

    def _names(self) -> list[tuple[str, float]]:
        names = []
        for path in self.directory.glob(f"*{SUMMARY_SUFFIX}"):
            try:
                names.append((path.name.removesuffix(SUMMARY_SUFFIX), path.stat().st_mtime))
            except FileNotFoundError:  # replaced or removed meanwhile
                continue
        return names

    def _summary_of(self, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._summary_path(name).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return data

    def read_summary(self, name: str) -> dict[str, Any]:
        """The stored summary. :raises NotFoundError: when there is no such result."""
        try:
            data: dict[str, Any] = json.loads(self._summary_path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise self._missing(name) from None
        data.pop(DETAILS_KEY, None)
        return data

    def _open(self, name: str) -> tuple[dict[str, Any], IO[str]] | None:
        try:
            data = json.loads(self._summary_path(name).read_text(encoding="utf-8"))
            return data, (self.directory / data.pop(DETAILS_KEY)).open(encoding="utf-8")
        except FileNotFoundError:
            return None
