"""The asyncio client, :class:`AsyncClient`: the source of the blocking client.

``drucker/client/_sync.py`` is generated from this file by ``tools/unasync.py`` (``nox -s
unasync``): edit here, then regenerate; a unit test fails when the two drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

import drucker.client._kinds as _kinds
import drucker.client._management as _management
import drucker.client._tensors as _tensors
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as v2_pb2
from drucker._wire import grpc_predict_v2_pb2_grpc as v2_pb2_grpc
from drucker.client._attempts import AttemptPolicy, attempt_metadata
from drucker.client._budget import Budget
from drucker.client._channel import channel_spec, retried_calls
from drucker.client._kinds import Option
from drucker.client._management import UploadOptions
from drucker.client.aio_repository import AsyncRepositoryMethods
from drucker.client.aio_traffic import AsyncTrafficMethods
from drucker.client.errors import ClientError, InvalidArgument, from_rpc_error, no_answer
from drucker.client.types import EvaluationRecord, Metrics, ModelSwitch, ServiceInfo, StoredModel
from drucker.client.types import RepositoryModel as RepositoryModel
from drucker.kinds import Kind
from drucker.types import ModelSignature, PredictResult

if TYPE_CHECKING:
    import numpy as np

    from drucker.client.types import StoredEvaluation


class AsyncClient(AsyncRepositoryMethods, AsyncTrafficMethods):
    """A drucker service, one server or several, over one gRPC channel.

    Traffic between a model's versions (``traffic``, ``set_split``, ``set_shadow``,
    ``stop_shadow``, ``set_guard``, ``remove_guard``, ``promote``, ``clear_traffic``,
    ``shadow_sample``) comes from :class:`~drucker.client.aio_traffic.AsyncTrafficMethods`.

    :param target: ``host:port``, a DNS name with port (every address it resolves to is used),
        or a list of ``host:port``; calls are spread round robin over the servers that are up.
    :param timeout: default deadline of a call, in seconds: of all its attempts together.
    :param max_attempts: attempts of an idempotent call on UNAVAILABLE or RESOURCE_EXHAUSTED
        (1 turns retries off; gRPC caps it at 5), within the call's deadline; after a refusal
        for overload the next attempt waits the server's pushback. Uploads, switches and
        evaluations are never retried.
    :param attempt_timeout: a deadline of its own for each attempt of an idempotent unary
        call, in seconds (default: none, the attempts share the call's). An attempt that runs
        it out is tried again, as are refusals, after the pushback, within ``timeout`` and
        ``max_attempts`` (see :mod:`drucker.client._attempts`).
    :param token: the management token, sent as ``authorization: Bearer <token>``.
    :param tls: use TLS: ``True`` for the system roots, or the PEM (bytes or a path) of the CA
        that signed the server's certificate.
    :param options: extra gRPC channel options.
    :param model: the model every call is for, on a server of several models (sent as
        ``x-rekcurd-application-name``, and the V2 model name); without it the server's
        default model answers.
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
        attempt_timeout: float | None = None,
    ) -> None:
        spec = channel_spec(
            target,
            max_attempts=max_attempts,
            own_attempts=attempt_timeout is not None,
            token=token,
            tls=tls,
            options=options,
            model=model,
        )
        self.timeout = timeout
        self._attempts = (
            None if attempt_timeout is None else AttemptPolicy(max_attempts, attempt_timeout)
        )
        self._metadata = spec.metadata
        if spec.credentials is not None:
            self._channel = grpc.aio.secure_channel(spec.address, spec.credentials, spec.options)
        else:
            self._channel = grpc.aio.insecure_channel(spec.address, spec.options)
        self._worker = drucker_pb2_grpc.DruckerWorkerStub(self._channel)
        self._dashboard = drucker_pb2_grpc.DruckerDashboardStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._inference = v2_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._retried = retried_calls(
            {
                "drucker.DruckerWorker": self._worker,
                "drucker.DruckerDashboard": self._dashboard,
                "grpc.health.v1.Health": self._health,
                "inference.GRPCInferenceService": self._inference,
            }
        )
        self._output_kind: Kind | None = None  # from the signature, read once
        self._model: str | None = model  # the V2 model name: given, or ServiceInfo's, read once
        self._named = model

    @property
    def model(self) -> str | None:
        """The model named with ``model=`` (``None``: requests go to the server's default)."""
        return self._named

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
        """Start a call with the deadline and the metadata; its answer is not awaited."""
        return method(
            request, timeout=timeout or self.timeout, metadata=(*self._metadata, *metadata)
        )

    async def _call(
        self,
        method: Any,
        request: Any,
        timeout: float | None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Any:
        """The answer of a unary call (arguments as for ``_start``), errors as client errors;
        an idempotent one in attempts of ``attempt_timeout`` when the client has one."""
        if self._attempts is not None and method in self._retried:
            return await self._attempted(self._attempts, method, request, timeout, metadata)
        try:
            return await self._start(method, request, timeout, metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    async def _attempted(
        self,
        policy: AttemptPolicy,
        method: Any,
        request: Any,
        timeout: float | None,
        metadata: Sequence[tuple[str, str]],
    ) -> Any:
        """An idempotent unary call in attempts with deadlines of their own, the pushback (or a
        backoff) between them, all within the call's ``timeout``."""
        budget = Budget(timeout or self.timeout)
        sent = (*self._metadata, *metadata)
        attempt = 1
        while True:
            left = budget.left()
            try:
                return await method(
                    request,
                    timeout=policy.timeout(left),
                    metadata=attempt_metadata(sent, attempt),
                )
            except grpc.RpcError as error:
                wait = policy.wait(error, attempt, policy.attempt_timeout < left)
                if wait is None or wait >= budget.remaining():
                    raise from_rpc_error(error) from None
            await asyncio.sleep(wait)
            attempt += 1

    # -- predictions -------------------------------------------------------------------------

    async def predict(
        self,
        input: Any,
        *,
        output: Kind | str | None = None,
        option: Option = None,
        input_kind: Kind | str | None = None,
        timeout: float | None = None,
    ) -> PredictResult:
        """Predict one input; the rpc is chosen from the input's type and ``output``.

        Without ``output``, the output kind is the one the model's signature names (see
        :meth:`output_kind`), as ``drucker predict`` does: a regressor answers ``ArrFloat``.
        ``timeout`` is the whole call's: reading the signature and a second try spend it too.

        :raises TypeError: or ``ValueError`` when the input fits no kind.
        :raises ClientError: (a subclass naming the status) when the call fails.
        """
        budget = Budget(timeout or self.timeout)
        if output is not None:
            return await self._predict(input, output, option, input_kind, budget.left())
        try:
            known = await self.output_kind(timeout=budget.left())
        except ClientError:  # no signature now (e.g. its store is down): the 0.4.5 default
            return await self._predict(input, Kind.STRING, option, input_kind, budget.left())
        try:
            return await self._predict(input, known, option, input_kind, budget.left())
        except InvalidArgument:
            self._output_kind = None  # another model may serve since: read its signature again
            if await self.output_kind(timeout=budget.left()) == known:
                raise
        kind = await self.output_kind(timeout=budget.left())
        return await self._predict(input, kind, option, input_kind, budget.left())

    async def output_kind(self, *, timeout: float | None = None) -> Kind:
        """The output kind the serving model's signature names (read once, then remembered):
        FP* → ``ArrFloat``, INT* → ``ArrInt``, else ``String``; ``String`` when the server
        offers no signature (Drucker 0.4.5, a protected ``ServiceInfo``).

        :raises ClientError: when the server cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED).
        """
        if self._output_kind is None:
            try:
                self._output_kind = _kinds.output_kind_of(await self.signature(timeout=timeout))
            except ClientError as error:
                if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                self._output_kind = Kind.STRING
        return self._output_kind

    async def _predict(
        self,
        input: Any,
        output: Kind | str,
        option: Option,
        input_kind: Kind | str | None,
        timeout: float | None,
    ) -> PredictResult:
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

    async def infer(
        self,
        inputs: Any,
        *,
        model: str | None = None,
        version: str = "",
        outputs: Sequence[str] = (),
        parameters: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Open Inference (V2) inference: numpy arrays in and out, many rows per call, exact.

        The Drucker protocol carries ``ArrFloat`` as 32-bit floats; here an FP64 array stays
        64-bit both ways (tensors travel as raw little-endian bytes).

        :param inputs: one array (the tensor ``input``, one row per sample) or a mapping of
            tensor names to arrays; anything ``numpy.asarray`` takes.
        :param model: the model's name (default: the application's, from ``ServiceInfo``).
        :param outputs: the output tensors to return (default: all).
        :param parameters: the request's parameters, e.g. ``{"output_kind": "ArrFloat"}`` for
            numeric labels from a model without a signature.
        :returns: the output tensors by name (e.g. ``label`` and ``score``).
        :raises ClientError: e.g. ``InvalidArgument`` for a tensor the model refuses.
        """
        budget = Budget(timeout or self.timeout)
        if model is None:
            model = await self._model_name(budget.left())
        tensors = inputs if isinstance(inputs, Mapping) else {"input": inputs}
        request = _tensors.infer_request(model, tensors, tuple(outputs), version, parameters)
        reply = await self._call(self._inference.ModelInfer, request, budget.left())
        return _tensors.infer_outputs(reply)

    async def _model_name(self, timeout: float | None = None) -> str:
        """The served model's V2 name: the application's name (read once)."""
        if self._model is None:
            self._model = (await self.service_info(timeout=timeout)).application_name
        return self._model

    # -- service -----------------------------------------------------------------------------

    async def service_info(self, *, timeout: float | None = None) -> ServiceInfo:
        """Application, service, level and the serving model."""
        request = drucker_pb2.ServiceInfoRequest()
        reply = await self._call(self._dashboard.ServiceInfo, request, timeout)
        return _management.service_info_of(reply)

    async def signature(self, *, timeout: float | None = None) -> ModelSignature:
        """The serving model's input and output tensors (Open Inference ``ModelMetadata``).

        The model is named after the application, which ``ServiceInfo`` reports (read within
        the same ``timeout``).

        :raises ClientError: e.g. ``ServerError`` (UNIMPLEMENTED) from a server without the
            Open Inference service, such as Drucker 0.4.5.
        """
        budget = Budget(timeout or self.timeout)
        request = v2_pb2.ModelMetadataRequest(name=await self._model_name(budget.left()))
        reply = await self._call(self._inference.ModelMetadata, request, budget.left())
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
        options: UploadOptions,
    ) -> str:
        path = Path(path)
        progress = options.get("progress")
        messages = _management.UploadMessages(path, name or path.name, kind, progress)
        requests: Iterator[Any] = map(messages.message, _management.read_chunks(path))
        method = (
            self._dashboard.UploadModel
            if kind == "model"
            else (self._dashboard.UploadEvaluationData)
        )
        timeout = options.get("timeout")
        return _management.checked(await self._call(method, requests, timeout, metadata))

    async def upload_model(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        sha256: str | bool = True,
        **options: Unpack[UploadOptions],
    ) -> str:
        """Stream a model file to the server's store; returns the server's message.

        :param sha256: the digest the server verifies: computed from the file (``True``),
            given as hex, or not sent (``False``).
        :param options: ``progress`` and ``timeout``, as :class:`UploadOptions` describes.
        :raises ManagementError: when the server refused it (bad name, too large, …).
        """
        metadata = _management.sha256_metadata(Path(path), sha256)
        return await self._upload("model", path, name, metadata, options)

    async def switch_model(self, name: str, *, timeout: float | None = None) -> str:
        """Make a stored model serve. :raises ManagementError: when it cannot be loaded."""
        request = drucker_pb2.SwitchModelRequest(path=name)
        self._output_kind = None
        reply = await self._call(self._dashboard.SwitchModel, request, timeout)
        return _management.checked(reply)

    async def rollback_model(self, *, timeout: float | None = None) -> str:
        """Switch back to the model that served before the last switch (every replica of a
        shared store follows). :raises ManagementError: when there is none or it fails."""
        request = drucker_pb2.RollbackModelRequest()
        self._output_kind = None
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
        """Delete a stored model; the serving one is refused (FAILED_PRECONDITION).

        :raises NotFound: when there is no such model.
        """
        request = drucker_pb2.DeleteModelRequest(name=name)
        reply = await self._call(self._dashboard.DeleteModel, request, timeout)
        return str(reply.message)

    async def delete_evaluation_data(self, name: str, *, timeout: float | None = None) -> str:
        """Delete stored evaluation data. :raises NotFound: when there is none by that name."""
        request = drucker_pb2.DeleteEvaluationDataRequest(name=name)
        reply = await self._call(self._dashboard.DeleteEvaluationData, request, timeout)
        return str(reply.message)

    async def upload_evaluation_data(
        self, path: str | Path, name: str | None = None, **options: Unpack[UploadOptions]
    ) -> str:
        """Stream labelled data for :meth:`evaluate` to the server (``options`` as for
        :meth:`upload_model`)."""
        return await self._upload("data", path, name, (), options)

    async def evaluate(
        self, data_name: str, result_name: str | None = None, *, timeout: float | None = 600
    ) -> Metrics:
        """Evaluate the serving model on stored data; the result is stored under its name."""
        request = drucker_pb2.EvaluateModelRequest(
            data_path=data_name, result_path=result_name or f"{data_name}.result"
        )
        reply = await self._call(self._dashboard.EvaluateModel, iter([request]), timeout)
        return _management.metrics_of(reply.metrics)

    async def evaluation_results(self, *, timeout: float | None = None) -> list[StoredEvaluation]:
        """Every evaluation result the server's store holds, newest first, whoever ran it
        (the CLI, the SDK, the dashboard; any replica of a shared store)."""
        request = drucker_pb2.ListEvaluationResultsRequest()
        reply = await self._call(self._dashboard.ListEvaluationResults, request, timeout)
        return _management.evaluations_of(reply)

    async def evaluation_result(
        self, result_name: str, *, timeout: float | None = 600
    ) -> tuple[Metrics, AsyncIterator[EvaluationRecord]]:
        """The stored metrics and an async iterator over the per-sample records (streamed)."""
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
