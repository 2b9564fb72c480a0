"""The asyncio client, with the surface of :class:`drucker.client.Client`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as v2_pb2
from drucker._wire import grpc_predict_v2_pb2_grpc as v2_pb2_grpc
from drucker.client import _kinds, _management
from drucker.client._channel import channel_spec
from drucker.client._kinds import Option
from drucker.client._management import Progress
from drucker.client.errors import from_rpc_error, no_answer
from drucker.client.types import (
    EvaluationRecord,
    Metrics,
    ModelSwitch,
    ServiceInfo,
    StoredModel,
)
from drucker.client.types import RepositoryModel as RepositoryModel
from drucker.kinds import Kind
from drucker.types import ModelSignature, PredictResult


class AsyncClient:
    """A drucker service over a grpc.aio channel; the arguments are those of ``Client``."""

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        token: str | None = None,
        tls: bool | str | Path | bytes = False,
        options: Sequence[tuple[str, Any]] = (),
        model: str | None = None,
    ) -> None:
        spec = channel_spec(
            target, max_attempts=max_attempts, token=token, tls=tls, options=options, model=model
        )
        self.timeout = timeout
        self._metadata = spec.metadata
        if spec.credentials is not None:
            self._channel = grpc.aio.secure_channel(spec.address, spec.credentials, spec.options)
        else:
            self._channel = grpc.aio.insecure_channel(spec.address, spec.options)
        self._worker = drucker_pb2_grpc.DruckerWorkerStub(self._channel)
        self._dashboard = drucker_pb2_grpc.DruckerDashboardStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._inference = v2_pb2_grpc.GRPCInferenceServiceStub(self._channel)

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start(
        self,
        method: Any,
        request: Any,
        timeout: float | None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Any:
        """Start a call (awaitable or async iterator) with the deadline and the metadata."""
        return method(
            request, timeout=timeout or self.timeout, metadata=(*self._metadata, *metadata)
        )

    async def _call(self, *call: Any) -> Any:
        """Await a unary answer (arguments as for ``_start``); errors become client errors."""
        try:
            return await self._start(*call)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    # -- the model repository (servers of several models) ------------------------------------

    async def repository_index(
        self, *, ready: bool = False, timeout: float | None = None
    ) -> list[RepositoryModel]:
        """Every model of the server's repository with its state (only ready ones with
        ``ready``); needs the management token."""
        request = v2_pb2.RepositoryIndexRequest(ready=ready)
        reply = await self._call(self._inference.RepositoryIndex, request, timeout)
        return _management.repository_models_of(reply)

    async def load_model(self, name: str, *, timeout: float | None = 600) -> None:
        """Load (or reload) model ``name`` of the server's store and serve it."""
        request = v2_pb2.RepositoryModelLoadRequest(model_name=name)
        await self._call(self._inference.RepositoryModelLoad, request, timeout)

    async def unload_model(self, name: str, *, timeout: float | None = None) -> None:
        """Stop serving model ``name`` (requests in flight on it finish)."""
        request = v2_pb2.RepositoryModelUnloadRequest(model_name=name)
        await self._call(self._inference.RepositoryModelUnload, request, timeout)

    # -- predictions -------------------------------------------------------------------------

    async def predict(
        self,
        input: Any,
        *,
        output: Kind | str = Kind.STRING,
        option: Option = None,
        input_kind: Kind | str | None = None,
        timeout: float | None = None,
    ) -> PredictResult:
        """Predict one input; the rpc is chosen from the input's type and ``output``."""
        prediction = _kinds.prepare(input, output, option, input_kind)
        method = getattr(self._worker, prediction.rpc)
        if prediction.output_kind is not Kind.BYTES:
            reply = await self._call(method, prediction.request, timeout)
            return _kinds.result_of(reply, prediction.output_kind)
        try:
            call = self._start(method, prediction.request, timeout)
            messages = [message async for message in call]
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        result = _kinds.joined_bytes_result(messages)
        if result is None:
            raise no_answer("prediction")
        return result

    # -- service -----------------------------------------------------------------------------

    async def service_info(self) -> ServiceInfo:
        """Application, service, level and the serving model."""
        request = drucker_pb2.ServiceInfoRequest()
        reply = await self._call(self._dashboard.ServiceInfo, request, None)
        return _management.service_info_of(reply)

    async def signature(self, *, timeout: float | None = None) -> ModelSignature:
        """The serving model's input and output tensors (Open Inference ``ModelMetadata``).

        The model is named after the application, which ``ServiceInfo`` reports.

        :raises ClientError: e.g. ``ServerError`` (UNIMPLEMENTED) from a server without the
            Open Inference service, such as Drucker 0.4.5.
        """
        name = (await self.service_info()).application_name
        request = v2_pb2.ModelMetadataRequest(name=name)
        reply = await self._call(self._inference.ModelMetadata, request, timeout)
        return _kinds.signature_of(reply)

    async def health(self, service: str = "") -> bool:
        """Whether the server reports SERVING on the standard health service."""
        request = health_pb2.HealthCheckRequest(service=service)
        reply = await self._call(self._health.Check, request, None)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    # -- management --------------------------------------------------------------------------

    async def _upload(
        self,
        kind: str,
        path: str | Path,
        name: str | None,
        metadata: Sequence[tuple[str, str]],
        progress: Progress | None,
        timeout: float | None,
    ) -> str:
        path = Path(path)
        messages = _management.UploadMessages(path, name or path.name, kind, progress)
        requests: Iterator[Any] = map(messages.message, _management.read_chunks(path))
        method = (
            self._dashboard.UploadModel
            if kind == "model"
            else (self._dashboard.UploadEvaluationData)
        )
        return _management.checked(await self._call(method, requests, timeout, metadata))

    async def upload_model(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        sha256: str | bool = True,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> str:
        """Stream a model file to the server's store; see ``Client.upload_model``."""
        metadata = _management.sha256_metadata(Path(path), sha256)
        return await self._upload("model", path, name, metadata, progress, timeout)

    async def switch_model(self, name: str, *, timeout: float | None = None) -> str:
        """Make a stored model serve. :raises ManagementError: when it cannot be loaded."""
        request = drucker_pb2.SwitchModelRequest(path=name)
        reply = await self._call(self._dashboard.SwitchModel, request, timeout)
        return _management.checked(reply)

    async def rollback_model(self, *, timeout: float | None = None) -> str:
        """Switch back to the model that served before the last switch (every replica of a
        shared store follows). :raises ManagementError: when there is none or it fails."""
        request = drucker_pb2.RollbackModelRequest()
        reply = await self._call(self._dashboard.RollbackModel, request, timeout)
        return _management.checked(reply)

    async def model_history(self) -> list[ModelSwitch]:
        """The switch history of the server's model store, oldest first."""
        request = drucker_pb2.ModelHistoryRequest()
        reply = await self._call(self._dashboard.ModelHistory, request, None)
        return _management.history_of(reply)

    async def list_models(self) -> tuple[list[StoredModel], str]:
        """The stored models and the name of the one serving."""
        request = drucker_pb2.ListModelsRequest()
        reply = await self._call(self._dashboard.ListModels, request, None)
        return _management.models_of(reply), reply.serving

    async def delete_model(self, name: str, *, timeout: float | None = None) -> str:
        """Delete a stored model; the serving one is refused (FAILED_PRECONDITION)."""
        request = drucker_pb2.DeleteModelRequest(name=name)
        reply = await self._call(self._dashboard.DeleteModel, request, timeout)
        return str(reply.message)

    async def delete_evaluation_data(self, name: str, *, timeout: float | None = None) -> str:
        """Delete stored evaluation data."""
        request = drucker_pb2.DeleteEvaluationDataRequest(name=name)
        reply = await self._call(self._dashboard.DeleteEvaluationData, request, timeout)
        return str(reply.message)

    async def upload_evaluation_data(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> str:
        """Stream labelled data for :meth:`evaluate` to the server."""
        return await self._upload("data", path, name, (), progress, timeout)

    async def evaluate(
        self, data_name: str, result_name: str | None = None, *, timeout: float | None = 600
    ) -> Metrics:
        """Evaluate the serving model on stored data; the result is stored under its name."""
        request = drucker_pb2.EvaluateModelRequest(
            data_path=data_name, result_path=result_name or f"{data_name}.result"
        )
        reply = await self._call(self._dashboard.EvaluateModel, iter([request]), timeout)
        return _management.metrics_of(reply.metrics)

    async def evaluation_result(
        self, result_name: str, *, timeout: float | None = 600
    ) -> tuple[Metrics, AsyncIterator[EvaluationRecord]]:
        """The stored metrics and an async iterator over the per-sample records."""
        request = drucker_pb2.EvaluationResultRequest(result_path=result_name)
        replies = self._start(self._dashboard.EvaluationResult, request, timeout).__aiter__()
        try:
            first = await replies.__anext__()
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        except StopAsyncIteration:
            raise no_answer("evaluation result") from None

        async def records() -> AsyncIterator[EvaluationRecord]:
            for record in _management.records_of(first):
                yield record
            try:
                async for reply in replies:
                    for record in _management.records_of(reply):
                        yield record
            except grpc.RpcError as error:
                raise from_rpc_error(error) from None

        return _management.metrics_of(first.metrics), records()
