"""``inference.GRPCInferenceService``: the Open Inference Protocol over the drucker runtime.

The served model is named after the application (``app.name``); its versions are the model
store's names, and the version serving now is the active model's name. A request of N rows
gives N predictions, through the batcher when the plugin has a batch hook. The request
parameter ``output_kind`` (a Drucker kind name, default ``String``) picks what the plugin is
asked for; the answer is the ``label`` and ``score`` output tensors.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from typing import Any

import grpc
import grpc.aio
import numpy as np

from drucker._version import __version__
from drucker.batching import Batcher
from drucker.errors import DruckerError, InvalidInputError, NotFoundError, OutputKindError
from drucker.kinds import Kind
from drucker.management import ModelManager
from drucker.protocol._generated import grpc_predict_v2_pb2 as pb
from drucker.protocol._generated import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.protocol.status import abort_with
from drucker.protocol.v2.tensors import decode_input, encode_output
from drucker.types import ModelSignature, PredictResult, TensorSpec

OUTPUT_KIND_PARAMETER = "output_kind"
DEFAULT_SIGNATURE = ModelSignature(
    inputs=(TensorSpec("input", "FP32", (-1, -1)),),
    outputs=(TensorSpec("label", "BYTES", (-1,)), TensorSpec("score", "FP32", (-1,))),
)
_LABEL_DATATYPES = {
    Kind.STRING: "BYTES",
    Kind.BYTES: "BYTES",
    Kind.ARR_STRING: "BYTES",
    Kind.ARR_INT: "INT32",
    Kind.ARR_FLOAT: "FP32",
}


def _parameter_value(parameter: Any) -> Any:
    choice = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, choice) if choice else None


def _parameter(value: Any) -> Any:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    if isinstance(value, str):
        return pb.InferParameter(string_param=value)
    return pb.InferParameter(string_param=json.dumps(value, default=str))


def _rows(array: np.ndarray, datatype: str) -> tuple[list[Any], Kind]:
    """Split an input array into per-row plugin inputs, with their kind."""
    if datatype == "BYTES":
        if array.ndim <= 1 or (array.ndim == 2 and array.shape[1] == 1):
            return [bytes(v) for v in array.reshape(-1)], Kind.BYTES
        rows = array.reshape(array.shape[0], -1)
        return [[bytes(v).decode("utf-8") for v in row] for row in rows], Kind.ARR_STRING
    kind = Kind.ARR_FLOAT if array.dtype.kind == "f" else Kind.ARR_INT
    if array.ndim <= 1:
        return [array.reshape(-1).tolist()], kind
    return array.reshape(array.shape[0], -1).tolist(), kind


def _output_arrays(
    results: list[PredictResult], output_kind: Kind
) -> dict[str, tuple[str, np.ndarray]]:
    """The ``label`` and ``score`` output tensors (datatype, array) of per-row results."""
    labels = [r.label for r in results]
    scores = [r.score for r in results]
    if output_kind.is_array:
        lengths = {len(label) for label in labels} | {len(score) for score in scores}
        if len(lengths) > 1:
            raise OutputKindError(
                f"rows answered with different numbers of labels or scores {sorted(lengths)}; "
                "a V2 output tensor needs equal lengths"
            )
    label_dtype = object if _LABEL_DATATYPES[output_kind] == "BYTES" else None
    return {
        "label": (_LABEL_DATATYPES[output_kind], np.array(labels, dtype=label_dtype)),
        "score": ("FP32", np.array(scores, dtype=np.float32)),
    }


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """Health, metadata and inference of the Open Inference Protocol."""

    def __init__(
        self, manager: ModelManager, executor: Executor | None, batcher: Batcher | None
    ) -> None:
        self._manager = manager
        self._runtime = manager.runtime
        self._executor = executor
        self._batcher = batcher
        self._name = self._runtime.settings.application_name

    # -- health and metadata -----------------------------------------------------------------

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self._runtime.ready)

    def _check_model(self, name: str, version: str) -> None:
        if name != self._name:
            raise NotFoundError(f"no model named {name!r}; this server serves {self._name!r}")
        active = self._runtime.active
        if version and (active is None or version != active.name):
            raise NotFoundError(f"version {version!r} of {name!r} is not serving")

    async def ModelReady(self, request: Any, context: Any) -> Any:
        try:
            self._check_model(request.name, "")
        except DruckerError as error:
            await abort_with(context, error)
        active = self._runtime.active
        ready = active is not None and request.version in ("", active.name)
        return pb.ModelReadyResponse(ready=ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        return pb.ServerMetadataResponse(name="drucker", version=__version__, extensions=[])

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        try:
            self._check_model(request.name, request.version)
        except DruckerError as error:
            await abort_with(context, error)
        active = self._runtime.active
        signature = DEFAULT_SIGNATURE
        if active is not None:
            declared = self._runtime.plugins.hook.drucker_signature(
                model=active.model, settings=self._runtime.settings
            )
            signature = declared or DEFAULT_SIGNATURE
        versions = [stored.name for stored in self._manager.models.list()]
        if active is not None and active.name not in versions:
            versions.insert(0, active.name)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=self._name,
            versions=versions,
            platform="drucker",
            inputs=[
                tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in signature.inputs
            ],
            outputs=[
                tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in signature.outputs
            ],
        )

    # -- inference ---------------------------------------------------------------------------

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await self._infer(request)
        except DruckerError as error:
            await abort_with(context, error)

    async def _infer(self, request: Any) -> Any:
        self._check_model(request.model_name, request.model_version)
        if len(request.inputs) != 1:
            raise InvalidInputError(f"expected one input tensor, got {len(request.inputs)}")
        tensor = request.inputs[0]
        raw = bool(request.raw_input_contents)
        array = decode_input(tensor, request.raw_input_contents[0] if raw else None)
        option = {key: _parameter_value(p) for key, p in request.parameters.items()}
        try:
            output_kind = Kind(option.pop(OUTPUT_KIND_PARAMETER, "String"))
        except ValueError:
            kinds = ", ".join(kind.value for kind in Kind)
            raise InvalidInputError(f"parameter output_kind must be one of {kinds}") from None
        rows, input_kind = _rows(array, tensor.datatype)
        results = await self._predict_rows(rows, option, input_kind, output_kind)
        outputs = _output_arrays(results, output_kind)
        wanted = [o.name for o in request.outputs] or list(outputs)
        unknown = [name for name in wanted if name not in outputs]
        if unknown:
            raise InvalidInputError(f"unknown output {unknown[0]!r}; outputs are label, score")
        response = pb.ModelInferResponse(
            model_name=self._name,
            model_version=self._runtime.active.name if self._runtime.active else "",
            id=request.id,
        )
        for key, value in (results[0].option if results else {}).items():
            response.parameters[key].CopyFrom(_parameter(value))
        for name in wanted:
            datatype, values = outputs[name]
            message, raw_bytes = encode_output(name, datatype, values, raw)
            response.outputs.append(message)
            if raw:
                response.raw_output_contents.append(raw_bytes)
        return response

    async def _predict_rows(
        self, rows: list[Any], option: dict[str, Any], input_kind: Kind, output_kind: Kind
    ) -> list[PredictResult]:
        if not rows:
            raise InvalidInputError("the input tensor has no rows")
        if self._batcher is not None:
            if len(rows) == 1:  # the common case: no task to gather
                return [await self._batcher.predict(rows[0], option, input_kind, output_kind)]
            calls = [self._batcher.predict(row, option, input_kind, output_kind) for row in rows]
            return list(await asyncio.gather(*calls))
        predict = self._runtime.predict

        def all_rows() -> list[PredictResult]:
            return [predict(row, option, input_kind, output_kind) for row in rows]

        if self._executor is None:
            return all_rows()
        return await asyncio.get_running_loop().run_in_executor(self._executor, all_rows)
