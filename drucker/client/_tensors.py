"""numpy arrays to and from Open Inference (V2) tensors, sent as raw little-endian bytes.

Raw contents keep every value exact (FP64 stays 64-bit, unlike the Drucker protocol's 32-bit
``ArrFloat``) and cost one copy per tensor. numpy is imported by the caller's first use only.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from drucker._wire import grpc_predict_v2_pb2 as v2_pb2
from drucker.client.errors import ServerError

if TYPE_CHECKING:
    import numpy as np

_DATATYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
_DTYPES = {datatype: name for name, datatype in _DATATYPES.items()}
_TYPED_CONTENTS = {  # where a server that sends no raw contents puts each datatype
    "BOOL": "bool_contents",
    **dict.fromkeys(("INT8", "INT16", "INT32"), "int_contents"),
    "INT64": "int64_contents",
    **dict.fromkeys(("UINT8", "UINT16", "UINT32"), "uint_contents"),
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def infer_request(
    model: str,
    inputs: Mapping[str, Any],
    outputs: tuple[str, ...],
    version: str = "",
    parameters: Mapping[str, str] | None = None,
) -> Any:
    """A ``ModelInferRequest`` of ``inputs`` (name → array-like), raw contents.

    :raises TypeError: for an array of a dtype V2 has no datatype for (e.g. complex).
    """
    import numpy as np

    request = v2_pb2.ModelInferRequest(model_name=model, model_version=version)
    for name, value in inputs.items():
        array = np.asarray(value)
        datatype, raw = _encoded(name, array)
        request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        request.raw_input_contents.append(raw)
    for name in outputs:
        request.outputs.add(name=name)
    for key, value in (parameters or {}).items():
        request.parameters[key].string_param = value
    return request


def _encoded(name: str, array: np.ndarray) -> tuple[str, bytes]:
    if array.dtype.kind in "USO":
        items = [v.encode() if isinstance(v, str) else bytes(v) for v in array.reshape(-1)]
        return "BYTES", b"".join(struct.pack("<I", len(item)) + item for item in items)
    datatype = _DATATYPES.get(array.dtype.name)
    if datatype is None:
        raise TypeError(f"input {name!r}: V2 has no datatype for numpy's {array.dtype.name}")
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return datatype, little.tobytes()


def infer_outputs(reply: Any) -> dict[str, np.ndarray]:
    """The output tensors of a ``ModelInferResponse`` as numpy arrays, by name.

    :raises ServerError: for a tensor the reply does not describe in a way V2 allows (a
        datatype it does not define, FP16 without raw contents, values that do not fill the
        shape), naming the tensor.
    """
    arrays: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(reply.outputs):
        raw = reply.raw_output_contents[index] if index < len(reply.raw_output_contents) else None
        flat = _flat_output(tensor, raw)
        try:
            arrays[tensor.name] = flat.reshape(tuple(tensor.shape))
        except ValueError:
            raise ServerError(
                f"output {tensor.name!r}: {flat.size} values do not fill shape {list(tensor.shape)}"
            ) from None
    return arrays


def _flat_output(tensor: Any, raw: bytes | None) -> np.ndarray:
    import numpy as np

    datatype = tensor.datatype
    if datatype != "BYTES" and datatype not in _DTYPES:
        raise ServerError(f"output {tensor.name!r}: V2 defines no datatype {datatype!r}")
    if raw is not None:
        if datatype == "BYTES":
            return np.array(_split_bytes(raw), dtype=object)
        dtype = np.dtype(_DTYPES[datatype]).newbyteorder("<")
        if len(raw) % dtype.itemsize:
            raise ServerError(
                f"output {tensor.name!r}: {len(raw)} raw bytes are not whole {datatype} values"
            )
        return np.frombuffer(raw, dtype=dtype)
    field = _TYPED_CONTENTS.get(datatype)
    if field is None:  # FP16 has no typed contents field: it travels raw only
        raise ServerError(f"output {tensor.name!r}: {datatype} must come as raw contents")
    values = list(getattr(tensor.contents, field))
    return np.array(values, dtype="object" if datatype == "BYTES" else _DTYPES[datatype])


def _split_bytes(raw: bytes) -> list[bytes]:
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise ServerError("a BYTES output ends inside an element's 4-byte length")
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            raise ServerError(f"a BYTES output's element of {length} bytes runs past its end")
        items.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return items
