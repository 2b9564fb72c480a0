"""The Open Inference Protocol's HTTP body formats ⇄ the data plane's values.

Two formats, as Triton and KServe clients send them:

- JSON: tensors carry ``data`` as flat or nested lists (``BYTES`` elements as strings);
- the binary tensor extension: a JSON header of ``Inference-Header-Content-Length`` bytes,
  then each tensor whose ``parameters`` name a ``binary_data_size`` as raw little-endian bytes,
  in order. Answers are binary per output when asked (``"binary_data": true`` on an output,
  or ``"binary_data_output": true`` on the request).

JSON is read and written with orjson: on a one-row request it parses and serializes several
times faster than the standard library, and it writes numpy arrays directly (``float32`` in
their shortest form, without a detour through Python lists).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import orjson

from drucker.errors import InvalidInputError, OutputKindError
from drucker.protocol.v2.dataplane import (
    CONTENT_TYPE_PARAMETER,
    InferRequest,
    InferResponse,
    InputTensor,
    ModelMetadata,
    ServerMetadata,
)
from drucker.protocol.v2.tensors import DATATYPES, decode_raw, element_count, encode_raw
from drucker.types import TensorSpec

HEADER_LENGTH = "inference-header-content-length"
BINARY_SIZE = "binary_data_size"
BINARY_OUTPUT = "binary_data"
BINARY_OUTPUTS = "binary_data_output"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
# numpy dtype kinds a JSON list may arrive as, per family of datatypes (bool < int < float)
_ACCEPTED_KINDS = {"f": frozenset("biuf"), "i": frozenset("biu"), "u": frozenset("biu")}


@attrs.frozen
class DecodedInfer:
    """An inference request and which of its outputs are to be answered as binary data."""

    request: InferRequest
    binary_outputs: frozenset[str]
    all_binary: bool


def loads(document: bytes | bytearray | memoryview | str) -> Any:
    """A JSON document's value.

    :raises InvalidInputError: for text that is not JSON.
    """
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError as error:
        raise InvalidInputError(f"the body is not valid JSON: {error}") from None


def dumps(value: Any) -> bytes:
    """JSON bytes of a value (numpy arrays included; other types as their text, as on gRPC)."""
    return orjson.dumps(value, default=str, option=_DUMP_OPTIONS)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{what} must be a JSON object")
    return value


def _string(container: dict[str, Any], key: str, what: str, default: str | None = None) -> str:
    value = container.get(key, default)
    if not isinstance(value, str):
        raise InvalidInputError(f"{what}: {key!r} must be a string")
    return value


def _shape(tensor: dict[str, Any], name: str) -> tuple[int, ...]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) for dim in shape
    ):
        raise InvalidInputError(f"input {name!r}: 'shape' must be a list of integers")
    return tuple(shape)


def _strings(data: Any, name: str) -> list[bytes]:
    """The elements of nested lists of strings, flattened, as UTF-8 bytes."""
    items: list[bytes] = []
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            items.append(value.encode("utf-8"))
        elif isinstance(value, list):
            stack.extend(reversed(value))
        else:
            raise InvalidInputError(f"input {name!r}: BYTES data must be strings")
    return items


def _numbers(data: Any, datatype: str, name: str) -> np.ndarray:
    """Nested lists of JSON numbers (or booleans) as a flat array of ``datatype``."""
    dtype = DATATYPES[datatype][0]
    try:
        values = np.asarray(data)
    except ValueError:
        raise InvalidInputError(
            f"input {name!r}: 'data' is not a list of equal-length lists of numbers"
        ) from None
    if values.dtype.kind == "b" and datatype == "BOOL":
        return values.reshape(-1)
    if datatype == "BOOL" or values.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        wanted = "booleans" if datatype == "BOOL" else "numbers"
        raise InvalidInputError(f"input {name!r}: {datatype} data must be {wanted}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        # Python ints: numpy cannot compare a bool or int64 with UINT64's bound in C longs.
        if values.size and (int(values.min()) < info.min or int(values.max()) > info.max):
            raise InvalidInputError(f"input {name!r}: a value does not fit {datatype}")
    with np.errstate(over="ignore"):
        cast = values.reshape(-1).astype(dtype, copy=False)
    if dtype.kind == "f" and cast.dtype != values.dtype and np.isinf(cast).any():
        raise InvalidInputError(f"input {name!r}: a value does not fit {datatype}")
    return cast


def _input(tensor: Any, binary: memoryview, offset: int) -> tuple[InputTensor, int]:
    """One input tensor, and the offset of the next binary tensor."""
    tensor = _mapping(tensor, "an input tensor")
    name = _string(tensor, "name", "an input tensor")
    datatype = _string(tensor, "datatype", f"input {name!r}")
    shape = _shape(tensor, name)
    parameters = dict(_mapping(tensor.get("parameters", {}), f"input {name!r}: 'parameters'"))
    if datatype not in DATATYPES:
        known = ", ".join(DATATYPES)
        raise InvalidInputError(f"input {name!r}: datatype {datatype!r} is not one of {known}")
    size = parameters.pop(BINARY_SIZE, None)
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(f"input {name!r}: {BINARY_SIZE} must be a whole number")
        if offset + size > len(binary):
            raise InvalidInputError(
                f"input {name!r}: {BINARY_SIZE} {size} runs past the end of the body"
            )
        data = decode_raw(name, datatype, shape, bytes(binary[offset : offset + size]))
        return InputTensor(name, datatype, data, parameters), offset + size
    if "data" not in tensor:
        raise InvalidInputError(f"input {name!r} has neither 'data' nor {BINARY_SIZE}")
    count = element_count(shape, name)
    raw = tensor["data"]
    values: np.ndarray
    if datatype == "BYTES":
        items = _strings(raw, name)
        values = np.empty(len(items), dtype=object)
        values[:] = items
    else:
        values = _numbers(raw, datatype, name)
    if values.size != count:
        raise InvalidInputError(
            f"input {name!r}: {values.size} elements do not fill shape {list(shape)} ({count})"
        )
    return InputTensor(name, datatype, values.reshape(shape), parameters), offset


def decode_infer(
    body: bytes, header_length: int | None, model_name: str, model_version: str
) -> DecodedInfer:
    """An inference request from an HTTP body (JSON, or a JSON header and binary tensors).

    :raises InvalidInputError: for a body that does not decode.
    """
    if header_length is None:
        header_length = len(body)
    elif not 0 <= header_length <= len(body):
        raise InvalidInputError(
            f"Inference-Header-Content-Length {header_length} does not fit a body of "
            f"{len(body)} bytes"
        )
    view = memoryview(body)
    document = _mapping(loads(view[:header_length]), "the request")
    binary = view[header_length:]
    inputs_value = document.get("inputs")
    if not isinstance(inputs_value, list):
        raise InvalidInputError("the request needs 'inputs', a list of tensors")
    inputs, offset = [], 0
    for tensor in inputs_value:
        decoded, offset = _input(tensor, binary, offset)
        inputs.append(decoded)
    if offset != len(binary):
        raise InvalidInputError(
            f"{len(binary) - offset} bytes after the JSON header belong to no input"
        )
    parameters = dict(_mapping(document.get("parameters", {}), "'parameters'"))
    all_binary = bool(parameters.pop(BINARY_OUTPUTS, False))
    outputs_value = document.get("outputs", [])
    if not isinstance(outputs_value, list):
        raise InvalidInputError("'outputs' must be a list")
    names, binary_outputs = [], set()
    for output in outputs_value:
        output = _mapping(output, "a requested output")
        name = _string(output, "name", "a requested output")
        names.append(name)
        wanted = _mapping(output.get("parameters", {}), f"output {name!r}: 'parameters'")
        if wanted.get(BINARY_OUTPUT):
            binary_outputs.add(name)
    request_id = document.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidInputError("'id' must be a string")
    request = InferRequest(
        model_name=model_name,
        model_version=model_version,
        inputs=inputs,
        parameters=parameters,
        outputs=names,
        id=request_id,
    )
    return DecodedInfer(request, frozenset(binary_outputs), all_binary)


def _json_data(datatype: str, array: np.ndarray, name: str) -> Any:
    flat = array.reshape(-1)
    if datatype == "BYTES":
        try:
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in flat]
        except UnicodeDecodeError:
            raise OutputKindError(
                f"output {name!r} holds bytes that are not UTF-8 text; ask for it as binary "
                f"data (output parameter {BINARY_OUTPUT!r})"
            ) from None
    if datatype == "FP16":
        return flat.astype(np.float32)
    return np.ascontiguousarray(flat.astype(DATATYPES[datatype][0].newbyteorder("=")))


def encode_infer(answer: InferResponse, decoded: DecodedInfer) -> tuple[bytes, int | None]:
    """The answer's HTTP body and, when outputs travel as binary data, its JSON header length.

    :raises OutputKindError: for BYTES that are not text asked for as JSON.
    """
    document: dict[str, Any] = {
        "model_name": answer.model_name,
        "model_version": answer.model_version,
    }
    if answer.id:
        document["id"] = answer.id
    if answer.parameters:
        document["parameters"] = answer.parameters
    outputs, chunks = [], []
    for output in answer.outputs:
        tensor: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": output.shape,
        }
        if decoded.all_binary or output.name in decoded.binary_outputs:
            raw = encode_raw(output.datatype, output.data)
            tensor["parameters"] = {BINARY_SIZE: len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = _json_data(output.datatype, output.data, output.name)
        outputs.append(tensor)
    document["outputs"] = outputs
    header = dumps(document)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": spec.name, "datatype": spec.datatype, "shape": spec.shape}
    if spec.content_type:
        tensor["parameters"] = {CONTENT_TYPE_PARAMETER: spec.content_type}
    return tensor


def model_metadata(meta: ModelMetadata) -> dict[str, Any]:
    """The JSON of a model metadata answer."""
    return {
        "name": meta.name,
        "versions": meta.versions,
        "platform": meta.platform,
        "inputs": [_tensor_metadata(spec) for spec in meta.inputs],
        "outputs": [_tensor_metadata(spec) for spec in meta.outputs],
    }


def server_metadata(meta: ServerMetadata) -> dict[str, Any]:
    """The JSON of a server metadata answer."""
    return {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}
