"""Management on the wire: upload streams, and the replies turned into client values."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

from drucker._wire import drucker_pb2
from drucker.client.errors import ManagementError
from drucker.client.types import (
    EvaluationRecord,
    Metrics,
    ModelSwitch,
    ServiceInfo,
    StoredEvaluation,
    StoredModel,
)
from drucker.client.types import RepositoryModel as RepositoryModel

UPLOAD_CHUNK = 256 * 1024
SHA256_METADATA = "x-drucker-sha256"
SUCCESS = 1

Progress = Callable[[int, int], None]


def repository_models_of(reply: Any) -> list[RepositoryModel]:
    """The rows of a ``RepositoryIndexResponse``."""
    return [RepositoryModel(m.name, m.version, m.state, m.reason) for m in reply.models]


class UploadOptions(TypedDict, total=False):
    """The keyword arguments of every upload."""

    progress: Progress | None
    """Called with (bytes sent, total bytes) as the upload goes."""
    timeout: float | None
    """The call's deadline in seconds; the client's ``timeout`` when None."""


def sha256_metadata(path: Path, sha256: str | bool) -> tuple[tuple[str, str], ...]:
    """The digest metadata of an upload: computed (``True``), given (a str) or none."""
    if sha256 is False:
        return ()
    if sha256 is True:
        with path.open("rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    return ((SHA256_METADATA, sha256),)


def read_chunks(path: Path) -> Iterator[bytes]:
    """A file's contents in upload-sized chunks; an empty file is one empty chunk."""
    with path.open("rb") as handle:
        chunk = handle.read(UPLOAD_CHUNK)
        yield chunk
        while chunk := handle.read(UPLOAD_CHUNK):
            yield chunk


class UploadMessages:
    """Turns file chunks into the messages of one upload, counting the bytes for ``progress``.

    ``kind`` is ``"model"`` or ``"data"``; every message carries the name, as 0.4.5 clients
    send it.
    """

    def __init__(self, path: Path, name: str, kind: str, progress: Progress | None) -> None:
        self._is_model = kind == "model"
        self._name = name
        self._progress = progress
        self.total = path.stat().st_size
        self.sent = 0

    def message(self, chunk: bytes) -> Any:
        """The message for the next chunk; reports progress as it goes."""
        self.sent += len(chunk)
        if self._progress is not None:
            self._progress(self.sent, self.total)
        if self._is_model:
            return drucker_pb2.UploadModelRequest(path=self._name, data=chunk)
        return drucker_pb2.UploadEvaluationDataRequest(data_path=self._name, data=chunk)


def checked(reply: Any) -> str:
    """The message of a ``status``/``message`` reply. :raises ManagementError: on status 0."""
    if reply.status != SUCCESS:
        raise ManagementError(reply.message or "the server refused the call")
    return str(reply.message)


def service_info_of(reply: Any) -> ServiceInfo:
    return ServiceInfo(
        reply.application_name,
        reply.service_name,
        reply.service_level,
        reply.model_name,
        reply.model_sha256,
    )


def models_of(reply: Any) -> list[StoredModel]:
    return [StoredModel(m.name, m.size, m.sha256, m.uploaded_at, m.active) for m in reply.models]


def history_of(reply: Any) -> list[ModelSwitch]:
    return [
        ModelSwitch(
            s.at,
            s.to_name,
            s.to_sha256,
            s.from_name,
            s.from_sha256,
            s.by,
            s.result,
            s.rollback,
            s.traffic,
        )
        for s in reply.switches
    ]


def evaluations_of(reply: Any) -> list[StoredEvaluation]:
    """The stored evaluation results of a ``ListEvaluationResultsResponse``, newest first."""
    return [StoredEvaluation(r.name, metrics_of(r.metrics), r.stored_at) for r in reply.results]


def metrics_of(message: Any) -> Metrics:
    """Evaluation metrics; the protocol's 32-bit floats at their own precision (0.8333333,
    not 0.8333333134651184)."""
    return Metrics(
        num=message.num,
        accuracy=_single(message.accuracy),
        labels=list(message.labels),
        precision=[_single(v) for v in message.precision],
        recall=[_single(v) for v in message.recall],
        f1=[_single(v) for v in message.fvalue],
        option=dict(message.option),
    )


def _single(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (as numpy prints it)."""
    import numpy as np

    return float(str(np.float32(value)))


def _io_value(io: Any) -> Any:
    which = io.WhichOneof("io_oneof")
    if which == "tensor":
        values = list(io.tensor.val)
        return values if list(io.tensor.shape) else (values[0] if values else None)
    if which == "str":
        values = list(io.str.val)
        return values[0] if len(values) == 1 else values
    return None


def records_of(reply: Any) -> Iterator[EvaluationRecord]:
    """The per-sample records of one ``EvaluationResultResponse``."""
    for detail in reply.detail:
        yield EvaluationRecord(
            input=_io_value(detail.input),
            label=_io_value(detail.label),
            output=_io_value(detail.output),
            score=list(detail.score),
            is_correct=detail.is_correct,
        )
