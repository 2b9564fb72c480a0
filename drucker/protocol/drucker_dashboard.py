"""The ``drucker.DruckerDashboard`` service: service information and model management.

Upload and switch answer with ``status = 1`` (success) or ``status = 0`` and a message, as
0.4.5 clients expect; evaluation rpcs answer errors with gRPC status codes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.admission import DEADLINE_SLACK_SECONDS
from drucker.errors import DruckerError, InvalidInputError, storage_error
from drucker.evaluation import EvaluationMetrics
from drucker.management import ModelManager
from drucker.protocol.peers import readable_peer
from drucker.protocol.status import abort_with, answer_or_abort
from drucker.runtime import ActiveModel
from drucker.store.base import PendingUpload, StoredFile, SwitchEvent

SHA256_METADATA = "x-drucker-sha256"
SUCCESS, FAILURE = 1, 0


def metrics_message(metrics: EvaluationMetrics) -> Any:
    """The wire form of evaluation metrics (macro averages go into ``option``)."""
    return drucker_pb2.EvaluationMetrics(
        num=metrics.num,
        accuracy=metrics.accuracy,
        precision=metrics.precision,
        recall=metrics.recall,
        fvalue=metrics.f1,
        option=metrics.macro(),
        labels=metrics.labels,
    )


def _io(value: Any) -> Any:
    """An ``IO`` message: numbers as a Tensor, anything else as strings."""
    values = value if isinstance(value, list) else [value]
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        shape = [len(values)] if isinstance(value, list) else []
        return drucker_pb2.IO(tensor=drucker_pb2.Tensor(shape=shape, val=values))
    return drucker_pb2.IO(str=drucker_pb2.ArrString(val=[str(v) for v in values]))


def detail_message(record: dict[str, Any]) -> Any:
    """One ``EvaluationResultResponse.Detail`` from a stored JSON-lines record."""
    score = record["score"]
    return drucker_pb2.EvaluationResultResponse.Detail(
        input=_io(record["input"]),
        label=_io(record["label"]),
        output=_io(record["output"]),
        score=score if isinstance(score, list) else [score],
        is_correct=record["is_correct"],
    )


def switch_message(event: SwitchEvent) -> Any:
    """The wire form of one switch of the model history."""
    return drucker_pb2.ModelSwitch(
        at=event.at,
        to_name=event.to_name,
        to_sha256=event.to_sha256,
        from_name=event.from_name or "",
        from_sha256=event.from_sha256 or "",
        by=event.by,
        result=event.result,
        rollback=event.rollback,
        traffic=event.traffic,
    )


@dataclasses.dataclass(frozen=True)
class _Upload:
    """What kind of file an upload rpc receives, and how it answers."""

    begin: Callable[[str], PendingUpload]
    name_of: Callable[[Any], str]  # the file's name in a request message
    reply: Callable[..., Any]  # the response message type
    what: str  # for the log: "model", "evaluation data"
    action: str  # for the answer: "Uploading model file"
    with_sha256: bool = False  # whether the log and the answer give the file's SHA-256


class ModelDashboardServicer(drucker_pb2_grpc.DruckerDashboardServicer):  # type: ignore[misc]
    """Thin translation between dashboard messages and the :class:`ModelManager`."""

    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager
        self._runtime = manager.runtime
        settings = self._runtime.settings
        self._chunk_budget = min(1 << 20, settings.max_message_bytes // 2)

    async def _in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` in a thread; an operating-system error becomes a drucker error."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, call, *args)
        except OSError as exc:
            raise storage_error(exc) from None

    async def ServiceInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        settings = self._runtime.settings
        active = self._runtime.active
        return drucker_pb2.ServiceInfoResponse(
            application_name=settings.application_name,
            service_name=settings.service_name,
            service_level=settings.service_level.value,
            model_name=active.name if active else "",
            model_sha256=(active.sha256 or "") if active else "",
        )

    async def _receive(
        self,
        requests: AsyncIterator[Any],
        begin: Callable[[str], PendingUpload],
        name_of: Callable[[Any], str],
        context: grpc.aio.ServicerContext,
    ) -> StoredFile:
        """Stream an upload into a store; a cut-off or failed upload leaves nothing behind."""
        upload: PendingUpload | None = None
        try:
            async for request in requests:
                name = name_of(request)
                try:
                    if upload is None:
                        upload = begin(name)
                    elif name and name != upload.name:
                        raise InvalidInputError(
                            f"one upload carried two names: {upload.name}, {name}"
                        )
                    upload.write(request.data)
                except OSError as exc:
                    raise storage_error(exc) from None
            if upload is None:
                raise InvalidInputError("the upload carried no message")
            expected = dict(context.invocation_metadata() or ()).get(SHA256_METADATA)
            stored: StoredFile = await self._in_thread(upload.commit, expected)
            return stored
        finally:
            if upload is not None:
                upload.abort()

    async def _upload_reply(
        self,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
        upload: _Upload,
    ) -> Any:
        """Receive an upload and answer it, ``status = 1`` or ``status = 0`` and a message."""
        log = self._runtime.log
        try:
            stored = await self._receive(requests, upload.begin, upload.name_of, context)
        except DruckerError as error:
            log.error(f"{upload.what} upload failed: {error}")
            return upload.reply(status=FAILURE, message=f"Error: {upload.action}. {error}")
        checksum = {"sha256": stored.sha256} if upload.with_sha256 else {}
        log.info(f"{upload.what} {stored.name} uploaded", size=stored.size, **checksum)
        message = f"Success: {upload.action}. {stored.name}: {stored.size} bytes"
        if upload.with_sha256:
            message += f", sha256 {stored.sha256}"
        return upload.reply(status=SUCCESS, message=message)

    async def UploadModel(self, requests: AsyncIterator[Any], context: Any) -> Any:
        begin, reply = self._manager.begin_model_upload, drucker_pb2.ModelResponse
        model = _Upload(begin, lambda r: r.path, reply, "model", "Uploading model file", True)
        return await self._upload_reply(requests, context, model)

    async def SwitchModel(self, request: Any, context: Any) -> Any:
        switch = functools.partial(
            self._manager.switch, request.path, by=readable_peer(context.peer())
        )
        return await self._switch_reply(switch, repr(request.path), context)

    async def _switch_reply(
        self, switch: Callable[..., ActiveModel], what: str, context: Any
    ) -> Any:
        """``switch(caller=...)`` in a thread, answered as SwitchModel answers; the caller it
        sees is gone once this rpc was cancelled (grpc's context may not say so by itself when
        the client's deadline passed before the server's)."""
        caller = _WatchedCaller(context)
        try:
            active = await self._in_thread(functools.partial(switch, caller=caller))
        except asyncio.CancelledError:  # the deadline passed or the caller cancelled
            caller.leave()
            self._runtime.log.warning(f"the caller of the switch to {what} has gone")
            raise
        except DruckerError as error:
            self._runtime.log.error(f"switch to {what} failed: {error}")
            return drucker_pb2.ModelResponse(
                status=FAILURE, message=f"Error: Switching model file. {error}"
            )
        return drucker_pb2.ModelResponse(
            status=SUCCESS, message=f"Success: Switching model file. {active.name} is serving"
        )

    async def RollbackModel(self, request: Any, context: Any) -> Any:
        rollback = functools.partial(
            self._manager.rollback,
            by=f"rollback for {readable_peer(context.peer())}",
        )
        return await self._switch_reply(rollback, "the previous model", context)

    async def ModelHistory(self, request: Any, context: Any) -> Any:
        events = await answer_or_abort(context, self._in_thread(self._manager.history))
        return drucker_pb2.ModelHistoryResponse(switches=[switch_message(e) for e in events])

    async def UploadEvaluationData(self, requests: AsyncIterator[Any], context: Any) -> Any:
        begin, reply = self._manager.begin_data_upload, drucker_pb2.UploadEvaluationDataResponse
        data = _Upload(
            begin, lambda r: r.data_path, reply, "evaluation data", "Uploading evaluation data"
        )
        return await self._upload_reply(requests, context, data)

    async def EvaluateModel(self, requests: AsyncIterator[Any], context: Any) -> Any:
        data_name = result_name = ""
        async for request in requests:
            if request.data:
                await abort_with(
                    context,
                    InvalidInputError(
                        "EvaluateModel no longer takes data inline: upload it with "
                        "UploadEvaluationData and name it in data_path"
                    ),
                )
            data_name = data_name or request.data_path
            result_name = result_name or request.result_path
        try:
            if not data_name:
                raise InvalidInputError("data_path names no evaluation data")
            metrics = await self._in_thread(
                self._manager.evaluate, data_name, result_name or f"{data_name}.result"
            )
        except DruckerError as error:
            await abort_with(context, error)
        return drucker_pb2.EvaluateModelResponse(metrics=metrics_message(metrics))

    async def EvaluationResult(self, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            metrics, records = await self._in_thread(
                self._manager.evaluation_result, request.result_path
            )
        except DruckerError as error:
            await abort_with(context, error)
        except OSError as exc:
            await abort_with(context, storage_error(exc))
        response = drucker_pb2.EvaluationResultResponse
        yield response(metrics=metrics_message(metrics))
        batch: list[Any] = []
        size = 0
        for record in records:
            detail = detail_message(record)
            batch.append(detail)
            size += detail.ByteSize() + 8
            if size >= self._chunk_budget:
                yield response(detail=batch)
                batch, size = [], 0
        if batch:
            yield response(detail=batch)

    async def ListModels(self, request: Any, context: Any) -> Any:
        store = self._manager.models
        listed = self._in_thread(lambda: (store.active, store.list()))
        recorded, stored = await answer_or_abort(context, listed)
        active = self._runtime.active
        return drucker_pb2.ListModelsResponse(
            models=[
                drucker_pb2.ModelInfo(
                    name=f.name,
                    size=f.size,
                    sha256=f.sha256,
                    uploaded_at=f.stored_at,
                    active=f.name == recorded,
                )
                for f in stored
            ],
            serving=active.name if active else "",
        )

    async def DeleteModel(self, request: Any, context: Any) -> Any:
        deleted = self._in_thread(self._manager.delete_model, request.name)
        stored = await answer_or_abort(context, deleted)
        return drucker_pb2.DeleteResponse(message=f"deleted model {stored.name}")

    async def DeleteEvaluationData(self, request: Any, context: Any) -> Any:
        deleted = self._in_thread(self._manager.delete_data, request.name)
        stored = await answer_or_abort(context, deleted)
        return drucker_pb2.DeleteResponse(message=f"deleted evaluation data {stored.name}")

    async def ListEvaluationResults(self, request: Any, context: Any) -> Any:
        listed = await answer_or_abort(context, self._in_thread(self._manager.evaluation_results))
        return drucker_pb2.ListEvaluationResultsResponse(
            results=[
                drucker_pb2.StoredEvaluationResult(
                    name=result.name,
                    metrics=metrics_message(EvaluationMetrics(**result.summary)),
                    stored_at=result.stored_at,
                )
                for result in listed
            ]
        )


class _WatchedCaller:
    """A switch's caller: the rpc's context, and gone once the servicer saw the rpc cancelled,
    for its deadline when that was (about) due then, else because the caller cancelled."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.gone = False
        self._deadline_due = False

    def leave(self) -> None:
        """The servicer saw the rpc cancelled: the caller is gone. The client's own timer
        cancels it a little before the deadline the server's context reads (the request's
        time in transit), so a cancel that close to it was the deadline's."""
        remaining = self._context.time_remaining()
        self._deadline_due = remaining is not None and remaining <= DEADLINE_SLACK_SECONDS
        self.gone = True

    def time_remaining(self) -> float | None:
        if self._deadline_due:
            return 0.0
        remaining: float | None = self._context.time_remaining()
        return remaining

    def cancelled(self) -> bool:
        return self.gone or bool(self._context.cancelled())
