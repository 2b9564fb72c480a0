"""Evaluation results in object storage (the store's ``results/``), next to the models."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from drucker.errors import NotFoundError
from drucker.store.names import validate_name
from drucker.store.remote import Backend, remote_errors

SUMMARY_SUFFIX = ".summary.json"
DETAILS_KEY = "details_file"


class RemoteResults:
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

    def write(
        self,
        name: str,
        records: Iterable[dict[str, Any]],
        summarize: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Store ``records`` and then ``summarize()`` under ``name``; the summary.

        When the records or ``summarize`` raise, nothing is stored and the previous result
        of that name stays.
        """
        summary_path = self._summary(name)
        details = f"{name}.{os.urandom(6).hex()}.jsonl"
        self.spool.mkdir(parents=True, exist_ok=True)
        local = self.spool / details
        try:
            with local.open("x", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps(record, default=str) + "\n")
                summary = summarize()
            fs = self.backend.fs
            with remote_errors(f"cannot store the evaluation result {name}"):
                fs.put_file(str(local), self.backend.path("results", details))
                old, _ = self.backend.update(
                    summary_path, lambda _: {**summary, DETAILS_KEY: details}
                )
            replaced = (old or {}).get(DETAILS_KEY)
            if replaced and replaced != details:
                with contextlib.suppress(Exception):  # a leftover costs space, nothing else
                    fs.rm(self.backend.path("results", replaced))
        finally:
            with contextlib.suppress(FileNotFoundError):
                local.unlink()
        return summary

    def read(self, name: str) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        """The summary and its records, streamed from the store.

        :raises NotFoundError: when there is no such result.
        """
        summary_path = self._summary(name)
        self.spool.mkdir(parents=True, exist_ok=True)
        local = self.spool / f"read-{os.urandom(6).hex()}.jsonl"
        for _ in range(3):  # a concurrent write may replace the result between the two reads
            with remote_errors(f"cannot read the evaluation result {name}"):
                data = self.backend.read(summary_path)[0]
                if data is None:
                    break
                try:
                    details = self.backend.path("results", data.pop(DETAILS_KEY))
                    self.backend.fs.get_file(details, str(local))
                except FileNotFoundError:
                    local.unlink(missing_ok=True)
                    continue
                except BaseException:
                    local.unlink(missing_ok=True)
                    raise
            # Downloaded whole here (called in a thread), so streaming the records to the
            # caller reads a local file; unlinked at once, it vanishes when they are read.
            handle = local.open("rb")
            local.unlink()
            return data, _records(handle)
        raise NotFoundError(f"no evaluation result named {name!r}")


def _records(handle: Any) -> Iterator[dict[str, Any]]:
    with handle:
        for line in handle:
            yield json.loads(line)
