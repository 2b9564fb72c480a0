"""V2 tensor conversion, built directly: numpy ⇄ typed contents ⇄ raw bytes, as round trips."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker.errors import InvalidInputError
from drucker.protocol.v2.tensors import DATATYPES, decode_input, encode_output

NUMERIC = sorted(datatype for datatype in DATATYPES if datatype != "BYTES")
TYPED = [datatype for datatype in NUMERIC if DATATYPES[datatype][1]]  # FP16 travels raw only
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)
unbounded = settings(deadline=None)  # a shared CI machine must not fail a test for its speed


@st.composite
def numeric_tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    datatype = draw(st.sampled_from(NUMERIC))
    array = draw(hnp.arrays(DATATYPES[datatype][0], shapes))
    return datatype, array


@st.composite
def bytes_tensors(draw: st.DrawFn) -> np.ndarray:
    shape = draw(shapes)
    count = int(np.prod(shape, dtype=np.int64))
    items = draw(st.lists(st.binary(max_size=12), min_size=count, max_size=count))
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(shape)


def as_input(message: Any) -> Any:
    """The output tensor sent back as an input tensor (what a client does with an answer)."""
    tensor = pb.ModelInferRequest.InferInputTensor(
        name=message.name, datatype=message.datatype, shape=list(message.shape)
    )
    tensor.contents.CopyFrom(message.contents)
    return pb.ModelInferRequest.InferInputTensor.FromString(tensor.SerializeToString())


def assert_same(decoded: np.ndarray, array: np.ndarray) -> None:
    assert decoded.shape == array.shape
    assert decoded.dtype == array.dtype
    if array.dtype.kind == "f":
        # bit for bit: NaN payloads, signed zeros and infinities included
        assert decoded.tobytes() == array.astype(decoded.dtype.newbyteorder("<")).tobytes()
    else:
        assert decoded.tolist() == array.tolist()


@unbounded
@given(numeric_tensors(), st.booleans())
def test_numeric_tensors_round_trip(tensor: tuple[str, np.ndarray], raw: bool) -> None:
    datatype, array = tensor
    raw = raw or datatype not in TYPED
    message, raw_bytes = encode_output("t", datatype, array, raw)
    assert (message.datatype, list(message.shape)) == (datatype, list(array.shape))
    if raw:  # the protocol's raw contents are little-endian, row-major
        assert raw_bytes == array.astype(array.dtype.newbyteorder("<")).tobytes(order="C")
    decoded = decode_input(as_input(message), raw_bytes if raw else None)
    assert_same(decoded, array)


@unbounded
@given(bytes_tensors(), st.booleans())
def test_bytes_tensors_round_trip(array: np.ndarray, raw: bool) -> None:
    message, raw_bytes = encode_output("t", "BYTES", array, raw)
    decoded = decode_input(as_input(message), raw_bytes if raw else None)
    assert decoded.shape == array.shape
    assert decoded.reshape(-1).tolist() == array.reshape(-1).tolist()


@unbounded
@given(st.lists(st.text(max_size=8), min_size=1, max_size=10))
def test_text_goes_out_as_utf_8_bytes(texts: list[str]) -> None:
    array = np.array(texts, dtype=object)
    message, raw_bytes = encode_output("label", "BYTES", array, raw=True)
    framed = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)
    assert raw_bytes == framed
    decoded = decode_input(as_input(message), raw_bytes)
    assert [value.decode("utf-8") for value in decoded] == texts


@unbounded
@given(numeric_tensors().filter(lambda tensor: tensor[1].size > 0), st.integers(1, 8))
def test_raw_contents_of_the_wrong_length_are_refused(
    tensor: tuple[str, np.ndarray], cut: int
) -> None:
    datatype, array = tensor
    message, raw_bytes = encode_output("t", datatype, array, raw=True)
    for wrong in (raw_bytes[:-cut], raw_bytes + b"\0" * cut):
        with pytest.raises(InvalidInputError, match="raw bytes do not hold shape"):
            decode_input(as_input(message), wrong)


@unbounded
@given(bytes_tensors().filter(lambda array: array.size > 0), st.integers(1, 4))
def test_cut_off_bytes_framing_is_refused(array: np.ndarray, cut: int) -> None:
    message, raw_bytes = encode_output("t", "BYTES", array, raw=True)
    with pytest.raises(InvalidInputError, match=r"cut off|do not fill"):
        decode_input(as_input(message), raw_bytes[:-cut])


@unbounded
@given(
    numeric_tensors().filter(lambda tensor: tensor[1].ndim > 0 and tensor[0] in TYPED),
    st.integers(1, 3),
)
def test_typed_contents_that_do_not_fill_the_shape_are_refused(
    tensor: tuple[str, np.ndarray], extra: int
) -> None:
    datatype, array = tensor
    message, _ = encode_output("t", datatype, array, raw=False)
    grown = as_input(message)
    grown.shape[0] += extra
    with pytest.raises(InvalidInputError, match="do not fill shape"):
        decode_input(grown, None)


def test_unknown_datatypes_and_bad_dimensions_are_refused() -> None:
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP8", shape=[1])
    with pytest.raises(InvalidInputError, match="datatype 'FP8' is not one of"):
        decode_input(tensor, None)
    for shape in ([-1, 2], [0], [3, 0, 2]):
        tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=shape)
        with pytest.raises(InvalidInputError, match="not positive"):
            decode_input(tensor, None)
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1] * 17)
    with pytest.raises(InvalidInputError, match="at most 16"):
        decode_input(tensor, None)


@pytest.mark.parametrize("shape", [[2**62, 2**62], [2**32, 2**32, 4], [2**63 - 1]])
def test_shapes_that_overflow_are_refused_not_wrapped(shape: list[int]) -> None:
    for raw in (None, b""):
        tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=shape)
        with pytest.raises(InvalidInputError, match=r"do not (fill|hold) shape"):
            decode_input(tensor, raw)


def _unpacked(field_number: int, values: np.ndarray, fmt: str) -> bytes:
    """Contents that encode each element as its own field (what an older client may send)."""
    key = bytes([field_number << 3 | (5 if fmt == "<f" else 1)])
    return b"".join(key + struct.pack(fmt, value) for value in values.tolist())


@unbounded
@given(
    st.sampled_from(["FP32", "FP64"]),
    hnp.arrays(np.float32, st.integers(1, 40)),
    st.booleans(),
)
def test_float_contents_decode_exactly_however_a_client_encoded_them(
    datatype: str, values: np.ndarray, unpacked: bool
) -> None:
    dtype = DATATYPES[datatype][0]
    array = values.astype(dtype)  # float32 values: every one also exact as FP64
    field = DATATYPES[datatype][1]
    contents = pb.InferTensorContents()
    if unpacked:
        number = pb.InferTensorContents.DESCRIPTOR.fields_by_name[field].number
        contents.MergeFromString(_unpacked(number, array, "<f" if datatype == "FP32" else "<d"))
    else:
        getattr(contents, field).extend(array.tolist())
    # Other fields set beside the datatype's are ignored, as before.
    contents.int_contents.extend([1, -2, 3])
    contents.bytes_contents.append(b"x")
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="t", datatype=datatype, shape=[len(array)], contents=contents
    )
    parsed = pb.ModelInferRequest.InferInputTensor.FromString(tensor.SerializeToString())
    decoded = decode_input(parsed, None)
    element_by_element = np.array(list(getattr(parsed.contents, field)), dtype=dtype)
    assert decoded.tobytes() == element_by_element.tobytes() == array.tobytes()


def test_float_outputs_are_typed_contents_a_client_reads_back() -> None:
    array = np.array([0.5, -1.25, np.inf, 3e38], dtype="<f4")
    message, raw_bytes = encode_output("score", "FP32", array, raw=False)
    assert raw_bytes == b""
    assert list(message.contents.fp32_contents) == array.tolist()
    empty, _ = encode_output("score", "FP64", np.zeros(0), raw=False)
    assert list(empty.contents.fp64_contents) == [] and list(empty.shape) == [0]
