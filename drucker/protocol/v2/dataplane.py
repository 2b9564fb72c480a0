"""The Open Inference Protocol (V2) without a wire: requests and answers as plain values.

Both bindings (gRPC here, REST over HTTP) decode their messages into :class:`InferRequest`,
call :class:`DataPlane`, and encode the :class:`InferResponse`; so typing rules, limits and
errors are the same on every wire.

Typing follows the model's signature (``drucker_signature``):

- the input's kind comes from its datatype: ``FP16/FP32/FP64`` → ``ArrFloat``, integers and
  ``BOOL`` → ``ArrInt``; ``BYTES`` → ``Bytes`` per row, or ``String`` when the text is meant
  (the tensor's ``content_type`` parameter is ``str``, or the signature declares the input with
  ``content_type="str"``); a row of several ``BYTES`` elements → ``ArrString``;
- the output kind is the ``output_kind`` parameter when given, else follows the signature's
  ``label`` datatype (``BYTES`` → ``String``, or ``ArrString`` for a 2-d label; floats →
  ``ArrFloat``; integers → ``ArrInt``), and the answer's ``label`` and ``score`` datatypes are
  the signature's whenever they fit the kind, so metadata and answers agree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import attrs
import numpy as np

from drucker._version import __version__
from drucker.admission import Caller
from drucker.dispatch import Dispatcher
from drucker.errors import DruckerError, InvalidInputError, NotFoundError, TooLargeError
from drucker.kinds import Kind
from drucker.models import ModelTable, ServedModel
from drucker.observability import routed
from drucker.protocol.v2.outputs import (
    FLOAT_TYPES,
    INT_TYPES,
    OutputTensor,
    requested_output_kind,
    row_outputs,
    tensor_outputs,
)
from drucker.traffic.router import ANSWERED, pinned
from drucker.types import ModelSignature, TensorSpec

OUTPUT_KIND_PARAMETER = "output_kind"
CONTENT_TYPE_PARAMETER = "content_type"
TEXT_CONTENT = "str"
DEFAULT_SIGNATURE = ModelSignature(
    inputs=(TensorSpec("input", "FP32", (-1, -1)),),
    outputs=(TensorSpec("label", "BYTES", (-1,)), TensorSpec("score", "FP32", (-1,))),
)
OUTPUT_NAMES = ("label", "score")
# The Open Inference Protocol extensions served (``ServerMetadata``).
EXTENSIONS = ("model_repository",)
# A tensor of more elements than this is split into rows and assembled from results in a
# thread: for 100,000 rows that work takes long enough to delay health checks on the loop.
INLINE_MAX_ELEMENTS = 4096
NUMERIC_TYPES = FLOAT_TYPES | INT_TYPES
# Enters a block during which the cyclic garbage collector stays off (the server's memory
# policy, :meth:`drucker.server.memory.MemoryPolicy.collector_paused`).
CollectorPause = Callable[[], AbstractContextManager[None]]


@attrs.frozen
class InputTensor:
    """One decoded input tensor: ``data`` has ``shape`` (BYTES elements are ``bytes``)."""

    name: str
    datatype: str
    data: np.ndarray
    parameters: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class InferRequest:
    """A decoded inference request; ``outputs`` names the wanted outputs (empty: all)."""

    model_name: str
    model_version: str
    inputs: list[InputTensor]
    parameters: dict[str, Any] = attrs.field(factory=dict)
    outputs: list[str] = attrs.field(factory=list)
    id: str = ""


@attrs.frozen
class _Wanted:
    """What an inference asks of the plugin: its option, output kind, signature and caller."""

    option: dict[str, Any]
    kind: Kind
    signature: ModelSignature
    caller: Caller | None


@attrs.frozen
class InferResponse:
    """An inference answer, to be encoded by a binding."""

    model_name: str
    model_version: str
    outputs: list[OutputTensor]
    parameters: dict[str, Any] = attrs.field(factory=dict)
    id: str = ""


@attrs.frozen
class ModelMetadata:
    """What ``ModelMetadata`` answers."""

    name: str
    versions: list[str]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@attrs.frozen
class ServerMetadata:
    """What ``ServerMetadata`` answers."""

    name: str
    version: str
    extensions: tuple[str, ...] = ()


class DataPlane:
    """Health, metadata and inference of the models this server serves (a :class:`ModelTable`).

    A request names its model; its versions are that model's store names, and the version
    serving now is its runtime's active model. A big tensor is served with the collector
    paused by ``pause`` (none without it).
    """

    def __init__(self, models: ModelTable, pause: CollectorPause | None = None) -> None:
        self.models = models
        self._pause: CollectorPause = pause or contextlib.nullcontext
        self.name = models.default.name
        self._max_rows = models.default.runtime.settings.v2_max_rows

    # -- health and metadata -----------------------------------------------------------------

    def live(self) -> bool:
        """The server answers."""
        return True

    def ready(self) -> bool:
        """Every served model is loaded."""
        return self.models.ready

    def unready_reason(self, name: str = "") -> str | None:
        """Why the server (or model ``name``) is not ready, when that is known: a model the
        server started without names its reason; ``None`` otherwise."""
        if not name:
            return self.models.unready_reason
        served = self.models.find(name)
        runtime = served.runtime if served is not None else None
        return runtime.not_loaded_reason if runtime and runtime.active is None else None

    def check_model(self, name: str, version: str = "") -> ServedModel:
        """The served model ``name``.

        :raises NotFoundError: for a model that is not served or a version that is not serving.
        """
        served = self.models.find(name)
        if served is None:
            raise NotFoundError(self.models.unknown(name))
        if version:
            active = served.runtime.active
            if active is None or version != active.name:
                raise NotFoundError(f"version {version!r} of {name!r} is not serving")
        return served

    def model_ready(self, name: str, version: str = "") -> bool:
        """Whether ``name`` (at ``version``, if given) serves; unknown names raise."""
        served = self.models.find(name)
        if served is None:
            raise NotFoundError(self.models.unknown(name))
        active = served.runtime.active
        return active is not None and version in ("", active.name)

    def server_metadata(self) -> ServerMetadata:
        """The server's name, version and protocol extensions."""
        return ServerMetadata(name="drucker", version=__version__, extensions=EXTENSIONS)

    def signature(self, served: ServedModel | None = None) -> ModelSignature:
        """The serving signature of ``served`` (the default model), or the default one."""
        return (served or self.models.default).runtime.signature() or DEFAULT_SIGNATURE

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        """The model's versions and tensors."""
        served = self.check_model(name, version)
        signature = self.signature(served)
        active = served.runtime.active
        try:
            versions = [stored.name for stored in served.manager.models.list()]
        except DruckerError:  # the store is out of reach: the serving version still is known
            versions = []
        if active is not None and active.name not in versions:
            versions.insert(0, active.name)
        return ModelMetadata(served.name, versions, "drucker", signature.inputs, signature.outputs)

    # -- inference ---------------------------------------------------------------------------

    async def infer(self, request: InferRequest, caller: Caller | None = None) -> InferResponse:
        """Predict every row of the request's input tensor; answer ``label`` and ``score``.

        ``caller`` (its deadline and cancellation) goes to the dispatcher's admission.

        :raises DruckerError: ``INVALID_ARGUMENT`` for bad input, ``NOT_FOUND`` for a model
            that is not served, ``RESOURCE_EXHAUSTED`` past ``v2.max_rows`` or when too many
            predictions wait, ``DEADLINE_EXCEEDED`` or ``CANCELLED`` for a caller gone, the
            plugin's errors.
        """
        ANSWERED.set(None)
        served = self.models.find(request.model_name)
        named = request.model_version
        pinned_to = pinned(served.dispatcher, named, caller) if served and named else None
        if pinned_to is None:
            served = self.check_model(request.model_name, named)
        assert served is not None
        routed.route(served.name)  # its bad inputs count under its name too
        if len(request.inputs) != 1:
            raise InvalidInputError(f"expected one input tensor, got {len(request.inputs)}")
        wanted = request.outputs or list(OUTPUT_NAMES)
        unknown = [name for name in wanted if name not in OUTPUT_NAMES]
        if unknown:
            raise InvalidInputError(f"unknown output {unknown[0]!r}; outputs are label, score")
        assert served is not None
        runtime, dispatcher = served.runtime, pinned_to or served.dispatcher
        signature = self.signature(served)
        tensor = request.inputs[0]
        option = dict(request.parameters)
        output_kind = requested_output_kind(option.pop(OUTPUT_KIND_PARAMETER, None), signature)
        want = _Wanted(option, output_kind, signature, caller)
        if runtime.can_predict_tensor and tensor.datatype in NUMERIC_TYPES:
            outputs, parameters = await self._infer_tensor(dispatcher, tensor, want)
        else:
            outputs, parameters = await self._infer_rows(dispatcher, tensor, want)
        active = runtime.active
        answered = ANSWERED.get()  # the version the traffic policy chose, if any
        return InferResponse(
            model_name=served.name,
            model_version=answered or (active.name if active else ""),
            outputs=[outputs[name] for name in wanted],
            parameters=parameters,
            id=request.id,
        )

    async def _infer_rows(
        self, dispatcher: Dispatcher, tensor: InputTensor, want: _Wanted
    ) -> tuple[dict[str, OutputTensor], dict[str, Any]]:
        """The outputs and parameters of a tensor predicted row by row (a list per row)."""
        option, kind, signature, caller = want.option, want.kind, want.signature, want.caller
        if tensor.data.size > INLINE_MAX_ELEMENTS:
            with self._pause():
                rows, input_kind = await asyncio.to_thread(self._rows, tensor, signature)
                results = await dispatcher.predict_rows(rows, option, input_kind, kind, caller)
                del rows
                outputs = await asyncio.to_thread(row_outputs, results, kind, signature)
        else:
            rows, input_kind = self._rows(tensor, signature)
            results = await dispatcher.predict_rows(rows, option, input_kind, kind, caller)
            del rows
            outputs = row_outputs(results, kind, signature)
        return outputs, dict(results[0].option) if results else {}

    async def _infer_tensor(
        self, dispatcher: Dispatcher, tensor: InputTensor, want: _Wanted
    ) -> tuple[dict[str, OutputTensor], dict[str, Any]]:
        """The outputs and parameters of a numeric tensor predicted by the plugin's tensor hook
        (no Python object per row)."""
        option, kind, signature, caller = want.option, want.kind, want.signature, want.caller
        count = self._row_count(tensor)
        matrix = tensor.data.reshape(count, -1)
        matrix.flags.writeable = False
        input_kind = Kind.ARR_FLOAT if tensor.datatype in FLOAT_TYPES else Kind.ARR_INT
        if tensor.data.size > INLINE_MAX_ELEMENTS:
            with self._pause():
                answer = await dispatcher.predict_tensor(matrix, option, input_kind, kind, caller)
                del matrix
                outputs = await asyncio.to_thread(
                    tensor_outputs, answer.labels, answer.scores, kind, signature
                )
        else:
            answer = await dispatcher.predict_tensor(matrix, option, input_kind, kind, caller)
            del matrix
            outputs = tensor_outputs(answer.labels, answer.scores, kind, signature)
        return outputs, dict(answer.option)

    def _row_count(self, tensor: InputTensor) -> int:
        """The number of rows of an input tensor (a 1-d tensor is one row), within limits.

        :raises InvalidInputError: for a tensor of no elements.
        :raises TooLargeError: past ``v2.max_rows``.
        """
        array = tensor.data
        rows = array.shape[0] if array.ndim > 1 else 1
        if array.size == 0:
            raise InvalidInputError(f"input {tensor.name!r} has no elements")
        if rows > self._max_rows:
            raise TooLargeError(
                f"input {tensor.name!r} has {rows} rows; at most {self._max_rows} per request "
                "(setting v2.max_rows)"
            )
        return int(rows)

    def _rows(self, tensor: InputTensor, signature: ModelSignature) -> tuple[list[Any], Kind]:
        """Split an input tensor into per-row plugin inputs, with their kind."""
        array = tensor.data
        rows = self._row_count(tensor)
        if tensor.datatype == "BYTES":
            return _bytes_rows(tensor, _is_text(tensor, signature))
        if tensor.datatype in FLOAT_TYPES:
            kind = Kind.ARR_FLOAT
        elif tensor.datatype in INT_TYPES:
            kind = Kind.ARR_INT
        else:
            raise InvalidInputError(f"input {tensor.name!r}: datatype {tensor.datatype!r}")
        if array.ndim <= 1:
            return [array.reshape(-1).tolist()], kind
        matrix = array.reshape(rows, -1)
        # In slices: one tolist() of 100,000 rows holds the GIL (and so the event loop) for
        # hundreds of milliseconds.
        step = max(1, INLINE_MAX_ELEMENTS // max(1, matrix.shape[1]))
        return [
            row for start in range(0, rows, step) for row in matrix[start : start + step].tolist()
        ], kind


def _is_text(tensor: InputTensor, signature: ModelSignature) -> bool:
    declared = tensor.parameters.get(CONTENT_TYPE_PARAMETER)
    if declared is not None:
        if declared not in (TEXT_CONTENT, "bytes"):
            raise InvalidInputError(
                f"input {tensor.name!r}: content_type {declared!r} is not 'str' or 'bytes'"
            )
        return bool(declared == TEXT_CONTENT)
    specs = {spec.name: spec for spec in signature.inputs}
    spec = specs.get(tensor.name) or (signature.inputs[0] if len(signature.inputs) == 1 else None)
    return spec is not None and spec.content_type == TEXT_CONTENT


def _text(value: bytes, name: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"input {name!r}: a BYTES element is not UTF-8 text") from None


def _bytes_rows(tensor: InputTensor, text: bool) -> tuple[list[Any], Kind]:
    array, name = tensor.data, tensor.name
    if array.ndim <= 1 or (array.ndim == 2 and array.shape[1] == 1):
        flat = array.reshape(-1)
        if text:
            return [_text(bytes(v), name) for v in flat], Kind.STRING
        return [bytes(v) for v in flat], Kind.BYTES
    rows = array.reshape(array.shape[0], -1)
    return [[_text(bytes(v), name) for v in row] for row in rows], Kind.ARR_STRING
