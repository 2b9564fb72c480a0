"""``inference.GRPCInferenceService``: the Open Inference Protocol's gRPC binding.

Each rpc decodes its message, asks the :class:`~drucker.protocol.v2.dataplane.DataPlane`, and
encodes the answer; typing rules, limits and errors live in the data plane.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import grpc
import grpc.aio

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.errors import NotFoundError
from drucker.protocol.status import answer_or_abort
from drucker.protocol.v2.dataplane import (
    CONTENT_TYPE_PARAMETER,
    INLINE_MAX_ELEMENTS,
    DataPlane,
    InferRequest,
    InferResponse,
    InputTensor,
)
from drucker.protocol.v2.tensors import DATATYPES, MAX_DIMENSIONS, decode_input, encode_output
from drucker.repository import Repository
from drucker.types import TensorSpec


def parameter_value(parameter: Any) -> Any:
    """The Python value of an ``InferParameter``."""
    choice = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, choice) if choice else None


def parameter_message(value: Any) -> Any:
    """An ``InferParameter`` for a Python value (others as JSON text)."""
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return pb.InferParameter(int64_param=value)
    if isinstance(value, float):
        return pb.InferParameter(double_param=value)
    if isinstance(value, str):
        return pb.InferParameter(string_param=value)
    return pb.InferParameter(string_param=json.dumps(value, default=str))


def _parameters(message: Any) -> dict[str, Any]:
    return {key: parameter_value(p) for key, p in message.items()}


def decode_request(request: Any) -> InferRequest:
    """The data plane's request from a ``ModelInferRequest``.

    :raises InvalidInputError: for tensors that do not decode.
    """
    raw = list(request.raw_input_contents)
    inputs = [
        InputTensor(
            name=tensor.name,
            datatype=tensor.datatype,
            data=decode_input(tensor, raw[index] if index < len(raw) else None),
            parameters=_parameters(tensor.parameters),
        )
        for index, tensor in enumerate(request.inputs)
    ]
    return InferRequest(
        model_name=request.model_name,
        model_version=request.model_version,
        inputs=inputs,
        parameters=_parameters(request.parameters),
        outputs=[output.name for output in request.outputs],
        id=request.id,
    )


def encode_response(answer: InferResponse, raw: bool) -> Any:
    """A ``ModelInferResponse``; raw contents when asked for or a datatype has no typed field."""
    raw = raw or any(not DATATYPES[output.datatype][1] for output in answer.outputs)
    response = pb.ModelInferResponse(
        model_name=answer.model_name, model_version=answer.model_version, id=answer.id
    )
    for key, value in answer.parameters.items():
        response.parameters[key].CopyFrom(parameter_message(value))
    for output in answer.outputs:
        message, raw_bytes = encode_output(output.name, output.datatype, output.data, raw)
        response.outputs.append(message)
        if raw:
            response.raw_output_contents.append(raw_bytes)
    return response


def _tensor_metadata(spec: TensorSpec) -> Any:
    message = pb.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=spec.datatype, shape=spec.shape
    )
    if spec.content_type:
        message.parameters[CONTENT_TYPE_PARAMETER].string_param = spec.content_type
    return message


def _is_big(request: Any) -> bool:
    """Whether a request's tensors are too big to decode and encode on the event loop."""
    if sum(len(raw) for raw in request.raw_input_contents) > 4 * INLINE_MAX_ELEMENTS:
        return True
    for tensor in request.inputs:
        shape = list(tensor.shape)
        if len(shape) <= MAX_DIMENSIONS and math.prod(shape) > INLINE_MAX_ELEMENTS:
            return True
    return False


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """Health, metadata, inference and the model repository of the Open Inference Protocol
    over gRPC."""

    def __init__(self, plane: DataPlane, repository: Repository | None = None) -> None:
        self._plane = plane
        self._repository = repository

    def _repo(self) -> Repository:
        if self._repository is None:
            raise NotFoundError("this server has no model repository")
        return self._repository

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=self._plane.live())

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self._plane.ready())

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def ready() -> Any:
            return pb.ModelReadyResponse(
                ready=self._plane.model_ready(request.name, request.version)
            )

        return await answer_or_abort(context, ready())

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        meta = self._plane.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta.name, version=meta.version, extensions=list(meta.extensions)
        )

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def metadata() -> Any:
            meta = self._plane.model_metadata(request.name, request.version)
            return pb.ModelMetadataResponse(
                name=meta.name,
                versions=meta.versions,
                platform=meta.platform,
                inputs=[_tensor_metadata(t) for t in meta.inputs],
                outputs=[_tensor_metadata(t) for t in meta.outputs],
            )

        return await answer_or_abort(context, metadata())

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def infer() -> Any:
            raw = bool(request.raw_input_contents)
            if not _is_big(request):
                answer = await self._plane.infer(decode_request(request), context)
                return encode_response(answer, raw)
            # Decoding and encoding a big tensor would hold the event loop (health checks).
            decoded = await asyncio.to_thread(decode_request, request)
            answer = await self._plane.infer(decoded, context)
            return await asyncio.to_thread(encode_response, answer, raw)

        return await answer_or_abort(context, infer())

    async def RepositoryIndex(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def index() -> Any:
            rows = self._repo().index(ready_only=request.ready)
            entry = pb.RepositoryIndexResponse.ModelIndex
            return pb.RepositoryIndexResponse(
                models=[
                    entry(name=r.name, version=r.version, state=r.state, reason=r.reason)
                    for r in rows
                ]
            )

        return await answer_or_abort(context, index())

    async def RepositoryModelLoad(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def load() -> Any:
            await self._repo().load(request.model_name)
            return pb.RepositoryModelLoadResponse()

        return await answer_or_abort(context, load())

    async def RepositoryModelUnload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def unload() -> Any:
            await self._repo().unload(request.model_name)
            return pb.RepositoryModelUnloadResponse()

        return await answer_or_abort(context, unload())
