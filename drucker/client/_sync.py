"""The blocking client."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
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


class Client:
    """A drucker service, one server or several, over one gRPC channel.

    :param target: ``host:port``, a DNS name with port (every address it resolves to is used),
        or a list of ``host:port``; calls are spread round robin over the servers that are up.
    :param timeout: default deadline of a call, in seconds.
    :param max_attempts: attempts of an idempotent call on UNAVAILABLE (1 turns retries off;
        gRPC caps it at 5). Uploads, switches and evaluations are never retried.
    :param token: the management token, sent as ``authorization: Bearer <token>``.
    :param tls: use TLS: ``True`` for the system roots, or the PEM (bytes or a path) of the CA
        that signed the server's certificate.
    :param options: extra gRPC channel options.
    :param model: the model every call is for, on a server of several models (sent as
        ``x-rekcurd-application-name``); without it the server's default model answers.
    """

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
            self._channel = grpc.secure_channel(spec.address, spec.credentials, spec.options)
        else:
            self._channel = grpc.insecure_channel(spec.address, spec.options)
        self._worker = drucker_pb2_grpc.DruckerWorkerStub(self._channel)
        self._dashboard = drucker_pb2_grpc.DruckerDashboardStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._inference = v2_pb2_grpc.GRPCInferenceServiceStub(self._channel)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: Any,
        request: Any,
        timeout: float | None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Any:
        try:
            return method(
                request,
                timeout=timeout or self.timeout,
                metadata=(*self._metadata, *metadata),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    # -- the model repository (servers of several models) ------------------------------------

    def repository_index(
        self, *, ready: bool = False, timeout: float | None = None
    ) -> list[RepositoryModel]:
        """Every model of the server's repository with its state (only ready ones with
        ``ready``); needs the management token."""
        request = v2_pb2.RepositoryIndexRequest(ready=ready)
        reply = self._call(self._inference.RepositoryIndex, request, timeout)
        return _management.repository_models_of(reply)

    def load_model(self, name: str, *, timeout: float | None = 600) -> None:
        """Load (or reload) model ``name`` of the server's store and serve it."""
        request = v2_pb2.RepositoryModelLoadRequest(model_name=name)
        self._call(self._inference.RepositoryModelLoad, request, timeout)

    def unload_model(self, name: str, *, timeout: float | None = None) -> None:
        """Stop serving model ``name`` (requests in flight on it finish)."""
        request = v2_pb2.RepositoryModelUnloadRequest(model_name=name)
        self._call(self._inference.RepositoryModelUnload, request, timeout)

    # -- predictions -------------------------------------------------------------------------

    def predict(
        self,
        input: Any,
        *,
        output: Kind | str = Kind.STRING,
        option: Option = None,
        input_kind: Kind | str | None = None,
        timeout: float | None = None,
    ) -> PredictResult:
        """Predict one input; the rpc is chosen from the input's type and ``output``.

        :raises TypeError: or ``ValueError`` when the input fits no kind.
        :raises ClientError: (a subclass naming the status) when the call fails.
        """
        prediction = _kinds.prepare(input, output, option, input_kind)
        method = getattr(self._worker, prediction.rpc)
        if prediction.output_kind is not Kind.BYTES:
            reply = self._call(method, prediction.request, timeout)
            return _kinds.result_of(reply, prediction.output_kind)
        try:
            messages = list(self._call(method, prediction.request, timeout))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        result = _kinds.joined_bytes_result(messages)
        if result is None:
            raise no_answer("prediction")
        return result

    # -- service -----------------------------------------------------------------------------

    def service_info(self) -> ServiceInfo:
        """Application, service, level and the serving model."""
        reply = self._call(self._dashboard.ServiceInfo, drucker_pb2.ServiceInfoRequest(), None)
        return _management.service_info_of(reply)

    def signature(self, *, timeout: float | None = None) -> ModelSignature:
        """The serving model's input and output tensors (Open Inference ``ModelMetadata``).

        The model is named after the application, which ``ServiceInfo`` reports.

        :raises ClientError: e.g. ``ServerError`` (UNIMPLEMENTED) from a server without the
            Open Inference service, such as Drucker 0.4.5.
        """
        name = (self.service_info()).application_name
        request = v2_pb2.ModelMetadataRequest(name=name)
        reply = self._call(self._inference.ModelMetadata, request, timeout)
        return _kinds.signature_of(reply)

    def health(self, service: str = "") -> bool:
        """Whether the server reports SERVING on the standard health service."""
        request = health_pb2.HealthCheckRequest(service=service)
        reply = self._call(self._health.Check, request, None)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    # -- management --------------------------------------------------------------------------

    def _upload(
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
        requests = map(messages.message, _management.read_chunks(path))
        method = (
            self._dashboard.UploadModel
            if kind == "model"
            else (self._dashboard.UploadEvaluationData)
        )
        return _management.checked(self._call(method, requests, timeout, metadata))

    def upload_model(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        sha256: str | bool = True,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> str:
        """Stream a model file to the server's store; returns the server's message.

        :param sha256: the digest the server verifies: computed from the file (``True``),
            given as hex, or not sent (``False``).
        :param progress: called with (bytes sent, total bytes) as the upload goes.
        :raises ManagementError: when the server refused it (bad name, too large, …).
        """
        metadata = _management.sha256_metadata(Path(path), sha256)
        return self._upload("model", path, name, metadata, progress, timeout)

    def switch_model(self, name: str, *, timeout: float | None = None) -> str:
        """Make a stored model serve. :raises ManagementError: when it cannot be loaded."""
        request = drucker_pb2.SwitchModelRequest(path=name)
        return _management.checked(self._call(self._dashboard.SwitchModel, request, timeout))

    def rollback_model(self, *, timeout: float | None = None) -> str:
        """Switch back to the model that served before the last switch (every replica of a
        shared store follows). :raises ManagementError: when there is none or it fails."""
        request = drucker_pb2.RollbackModelRequest()
        return _management.checked(self._call(self._dashboard.RollbackModel, request, timeout))

    def model_history(self) -> list[ModelSwitch]:
        """The switch history of the server's model store, oldest first."""
        request = drucker_pb2.ModelHistoryRequest()
        return _management.history_of(self._call(self._dashboard.ModelHistory, request, None))

    def list_models(self) -> tuple[list[StoredModel], str]:
        """The stored models and the name of the one serving."""
        reply = self._call(self._dashboard.ListModels, drucker_pb2.ListModelsRequest(), None)
        return _management.models_of(reply), reply.serving

    def delete_model(self, name: str, *, timeout: float | None = None) -> str:
        """Delete a stored model; the serving one is refused (FAILED_PRECONDITION).

        :raises NotFound: when there is no such model.
        """
        request = drucker_pb2.DeleteModelRequest(name=name)
        return str(self._call(self._dashboard.DeleteModel, request, timeout).message)

    def delete_evaluation_data(self, name: str, *, timeout: float | None = None) -> str:
        """Delete stored evaluation data. :raises NotFound: when there is none by that name."""
        request = drucker_pb2.DeleteEvaluationDataRequest(name=name)
        return str(self._call(self._dashboard.DeleteEvaluationData, request, timeout).message)

    def upload_evaluation_data(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> str:
        """Stream labelled data for :meth:`evaluate` to the server."""
        return self._upload("data", path, name, (), progress, timeout)

    def evaluate(
        self, data_name: str, result_name: str | None = None, *, timeout: float | None = 600
    ) -> Metrics:
        """Evaluate the serving model on stored data; the result is stored under its name."""
        request = drucker_pb2.EvaluateModelRequest(
            data_path=data_name, result_path=result_name or f"{data_name}.result"
        )
        reply = self._call(self._dashboard.EvaluateModel, iter([request]), timeout)
        return _management.metrics_of(reply.metrics)

    def evaluation_result(
        self, result_name: str, *, timeout: float | None = 600
    ) -> tuple[Metrics, Iterator[EvaluationRecord]]:
        """The stored metrics and an iterator over the per-sample records (streamed)."""
        request = drucker_pb2.EvaluationResultRequest(result_path=result_name)
        stream = self._call(self._dashboard.EvaluationResult, request, timeout)
        try:
            first = next(stream)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        except StopIteration:
            raise no_answer("evaluation result") from None

        def records() -> Iterator[EvaluationRecord]:
            yield from _management.records_of(first)
            try:
                for reply in stream:
                    yield from _management.records_of(reply)
            except grpc.RpcError as error:
                raise from_rpc_error(error) from None

        return _management.metrics_of(first.metrics), records()
