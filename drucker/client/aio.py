"""The asyncio client, with the surface of :class:`drucker.client.Client`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drucker.client import _codec
from drucker.client.errors import ClientError, ManagementError, from_rpc_error
from drucker.client.types import EvaluationRecord, Metrics, ServiceInfo, StoredModel
from drucker.kinds import Kind, rpc_name
from drucker.protocol._generated import drucker_pb2, drucker_pb2_grpc
from drucker.types import PredictResult

Progress = Callable[[int, int], None]


class AsyncClient:
    """A drucker service over a grpc.aio channel; see :class:`drucker.client.Client`."""

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        token: str | None = None,
        tls: bool | str | bytes = False,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.timeout = timeout
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        address = _codec.channel_target(target)
        channel_options = _codec.channel_options(max_attempts, options)
        if tls:
            roots = None if tls is True else _codec.read_pem(tls)
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.aio.secure_channel(address, credentials, options=channel_options)
        else:
            self._channel = grpc.aio.insecure_channel(address, options=channel_options)
        self._worker = drucker_pb2_grpc.DruckerWorkerStub(self._channel)
        self._dashboard = drucker_pb2_grpc.DruckerDashboardStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Any, request: Any, timeout: float | None, **kwargs: Any) -> Any:
        try:
            return await method(request, timeout=timeout or self.timeout, **kwargs)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    async def predict(
        self,
        input: Any,
        *,
        output: Kind | str = Kind.STRING,
        option: dict[str, Any] | None = None,
        input_kind: Kind | str | None = None,
        timeout: float | None = None,
    ) -> PredictResult:
        """Predict one input; the rpc is chosen from the input's type and ``output``."""
        in_kind = _codec.as_kind(input_kind) if input_kind else _codec.input_kind_of(input)
        out_kind = _codec.as_kind(output)
        method = getattr(self._worker, rpc_name(in_kind, out_kind))
        text = _codec.option_text(option)
        request = (
            _codec.bytes_requests(input, text)
            if in_kind is Kind.BYTES
            else _codec.unary_request(input, in_kind, text)
        )
        if out_kind is Kind.BYTES:
            try:
                call = method(request, timeout=timeout or self.timeout)
                messages = [message async for message in call]
            except grpc.RpcError as error:
                raise from_rpc_error(error) from None
            return _codec.joined_bytes_result(messages)
        return _codec.result_of(await self._call(method, request, timeout), out_kind)

    async def service_info(self) -> ServiceInfo:
        """Application, service, level and the serving model."""
        request = drucker_pb2.ServiceInfoRequest()
        reply = await self._call(
            self._dashboard.ServiceInfo, request, None, metadata=self._metadata
        )
        return _codec.service_info_of(reply)

    async def health(self, service: str = "") -> bool:
        """Whether the server reports SERVING on the standard health service."""
        request = health_pb2.HealthCheckRequest(service=service)
        reply = await self._call(self._health.Check, request, None)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def _checked(self, reply: Any) -> str:
        if reply.status != 1:
            raise ManagementError(reply.message)
        return str(reply.message)

    async def upload_model(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        sha256: str | None = None,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> str:
        """Stream a model file to the server's store; returns the server's message."""
        path = Path(path)
        metadata = self._metadata + ([(_codec.SHA256_METADATA, sha256)] if sha256 else [])
        requests = _codec.file_chunks(path, name or path.name, "path", progress)
        reply = await self._call(self._dashboard.UploadModel, requests, timeout, metadata=metadata)
        return self._checked(reply)

    async def switch_model(self, name: str, *, timeout: float | None = None) -> str:
        """Make a stored model serve."""
        request = drucker_pb2.SwitchModelRequest(path=name)
        reply = await self._call(
            self._dashboard.SwitchModel, request, timeout, metadata=self._metadata
        )
        return self._checked(reply)

    async def list_models(self) -> tuple[list[StoredModel], str]:
        """The stored models and the name of the one serving."""
        request = drucker_pb2.ListModelsRequest()
        reply = await self._call(self._dashboard.ListModels, request, None, metadata=self._metadata)
        return _codec.models_of(reply), reply.serving

    async def upload_evaluation_data(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> str:
        """Stream labelled data for :meth:`evaluate` to the server."""
        path = Path(path)
        requests = _codec.file_chunks(path, name or path.name, "data_path", progress)
        reply = await self._call(
            self._dashboard.UploadEvaluationData, requests, timeout, metadata=self._metadata
        )
        return self._checked(reply)

    async def evaluate(
        self, data_name: str, result_name: str | None = None, *, timeout: float | None = 600
    ) -> Metrics:
        """Evaluate the serving model on stored data."""
        request = drucker_pb2.EvaluateModelRequest(
            data_path=data_name, result_path=result_name or f"{data_name}.result"
        )
        reply = await self._call(
            self._dashboard.EvaluateModel, iter([request]), timeout, metadata=self._metadata
        )
        return _codec.metrics_of(reply.metrics)

    async def evaluation_result(
        self, result_name: str, *, timeout: float | None = 600
    ) -> tuple[Metrics, AsyncIterator[EvaluationRecord]]:
        """The stored metrics and an async iterator over the per-sample records."""
        request = drucker_pb2.EvaluationResultRequest(result_path=result_name)
        call = self._dashboard.EvaluationResult(request, timeout=timeout, metadata=self._metadata)
        replies = call.__aiter__()
        try:
            first = await replies.__anext__()
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        except StopAsyncIteration:
            raise ClientError("the server sent no evaluation result") from None

        async def records() -> AsyncIterator[EvaluationRecord]:
            for record in _codec.records_of(first):
                yield record
            try:
                async for reply in replies:
                    for record in _codec.records_of(reply):
                        yield record
            except grpc.RpcError as error:
                raise from_rpc_error(error) from None

        return _codec.metrics_of(first.metrics), records()
