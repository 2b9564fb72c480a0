"""The SDK's V2 tensor decoding: every datatype both ways, and clear errors for replies V2
does not allow (instead of a KeyError or a numpy error from deep inside)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from drucker._wire import grpc_predict_v2_pb2 as v2_pb2
from drucker.client import _tensors
from drucker.client.errors import ServerError


def _reply_of(request: v2_pb2.ModelInferRequest) -> v2_pb2.ModelInferResponse:
    reply = v2_pb2.ModelInferResponse(model_name=request.model_name)
    for tensor in request.inputs:
        reply.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
    reply.raw_output_contents.extend(request.raw_input_contents)
    return reply


@pytest.mark.parametrize(
    "dtype", ["bool", "int8", "uint16", "int32", "int64", "uint64", "float16", "float32", "float64"]
)
def test_raw_tensors_come_back_exactly(dtype: str) -> None:
    array = np.arange(6).reshape(2, 3) % 2 if dtype == "bool" else np.arange(6).reshape(2, 3)
    sent = array.astype(dtype)
    back = _tensors.infer_outputs(_reply_of(_tensors.infer_request("m", {"x": sent}, ())))["x"]
    assert back.dtype == sent.dtype and back.shape == (2, 3)
    np.testing.assert_array_equal(back, sent)


def test_strings_travel_as_bytes_elements() -> None:
    sent = np.array(["a", "bc", ""])
    back = _tensors.infer_outputs(_reply_of(_tensors.infer_request("m", {"s": sent}, ())))["s"]
    assert list(back) == [b"a", b"bc", b""]


def test_typed_contents_are_read_when_no_raw_contents_come() -> None:
    reply = v2_pb2.ModelInferResponse()
    reply.outputs.add(name="y", datatype="FP64", shape=[2]).contents.fp64_contents.extend([1.5, 2])
    reply.outputs.add(name="n", datatype="INT16", shape=[1]).contents.int_contents.append(-3)
    outputs = _tensors.infer_outputs(reply)
    assert outputs["y"].tolist() == [1.5, 2.0] and outputs["n"].dtype == np.int16


def test_fp16_without_raw_contents_is_a_clear_error() -> None:
    reply = v2_pb2.ModelInferResponse()
    reply.outputs.add(name="half", datatype="FP16", shape=[1])
    with pytest.raises(ServerError, match=r"output 'half': FP16 must come as raw contents"):
        _tensors.infer_outputs(reply)


@pytest.mark.parametrize(
    ("datatype", "raw", "shape", "message"),
    [
        ("BF16", b"\0\0", [1], r"output 't': V2 defines no datatype 'BF16'"),
        ("FP32", b"\0\0\0", [1], r"output 't': 3 raw bytes are not whole FP32 values"),
        ("FP32", b"\0" * 8, [3], r"output 't': 2 values do not fill shape \[3\]"),
        ("BYTES", struct.pack("<I", 9) + b"ab", [1], r"element of 9 bytes runs past its end"),
        ("BYTES", b"\1\0", [1], r"ends inside an element's 4-byte length"),
    ],
)
def test_malformed_outputs_are_named(
    datatype: str, raw: bytes, shape: list[int], message: str
) -> None:
    reply = v2_pb2.ModelInferResponse()
    reply.outputs.add(name="t", datatype=datatype, shape=shape)
    reply.raw_output_contents.append(raw)
    with pytest.raises(ServerError, match=message):
        _tensors.infer_outputs(reply)
