"""Big ArrFloat and ArrInt requests: their packed values as read-only numpy arrays (a view of
the floats, the varints decoded as protobuf does), other layouts parsed by protobuf."""

from __future__ import annotations

import struct
from unittest import mock

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from drucker._wire import drucker_pb2
from drucker.errors import InvalidInputError
from drucker.protocol import packed as packed_module
from drucker.protocol.packed import (
    PACKED_MIN_BYTES,
    VARINT_MAX_BYTES,
    PackedArrFloat,
    PackedArrInt,
    PendingArrInt,
    arr_float_request,
    arr_int_request,
)
from tests.hostile import varint

COUNT = PACKED_MIN_BYTES // 2  # floats: a message past the threshold


def _values() -> np.ndarray:
    return np.random.default_rng(0).normal(size=COUNT).astype(np.float32)


def test_a_big_packed_input_is_a_read_only_float32_view() -> None:
    values = _values()
    message = drucker_pb2.ArrFloatInput(input=values.tolist())
    message.option.val = '{"k": 1}'
    decoded = arr_float_request(message.SerializeToString())
    assert isinstance(decoded, PackedArrFloat)
    assert decoded.input.dtype == np.float32 and not decoded.input.flags.writeable
    np.testing.assert_array_equal(decoded.input, values)
    assert decoded.option.val == '{"k": 1}'


def test_a_small_input_keeps_protobufs_message() -> None:
    data = drucker_pb2.ArrFloatInput(input=[1.5, 2.5]).SerializeToString()
    decoded = arr_float_request(data)
    assert isinstance(decoded, drucker_pb2.ArrFloatInput)
    assert list(decoded.input) == [1.5, 2.5]


def test_an_unpacked_input_is_parsed_by_protobuf() -> None:
    values = _values()
    unpacked = b"".join(b"\x0d" + struct.pack("<f", v) for v in values)  # field 1, fixed32
    decoded = arr_float_request(unpacked)
    assert isinstance(decoded, drucker_pb2.ArrFloatInput)
    np.testing.assert_array_equal(np.asarray(decoded.input, dtype=np.float32), values)


def test_a_truncated_or_bad_option_does_not_decode() -> None:
    message = drucker_pb2.ArrFloatInput(input=_values().tolist())
    message.option.val = "x"
    data = message.SerializeToString()
    with pytest.raises(DecodeError):
        arr_float_request(data[:-3])
    bad_text = data[:-1] + b"\xff"  # the option's one character: not UTF-8
    with pytest.raises(DecodeError):
        arr_float_request(bad_text)


def _int_values(count: int, seed: int = 0) -> np.ndarray:
    """int32 values of every varint length: small, large and negative (ten bytes each)."""
    rng = np.random.default_rng(seed)
    full = rng.integers(-(2**31), 2**31, size=count, dtype=np.int64)
    small = rng.integers(0, 128, size=count)
    return np.where(rng.random(count) < 0.3, small, full).astype(np.int32)


def _decoded(data: bytes) -> PackedArrInt:
    pending = arr_int_request(data)
    assert isinstance(pending, PendingArrInt)
    return pending.decode()


def test_a_big_arr_int_input_decodes_to_protobufs_values_as_a_read_only_int32_array() -> None:
    values = _int_values(200_000)  # about 1.3 MB: many slices, varints across their edges
    message = drucker_pb2.ArrIntInput(input=values.tolist())
    message.option.val = '{"k": 1}'
    data = message.SerializeToString()
    decoded = _decoded(data)
    assert decoded.input.dtype == np.int32 and not decoded.input.flags.writeable
    np.testing.assert_array_equal(decoded.input, drucker_pb2.ArrIntInput.FromString(data).input)
    assert decoded.option.val == '{"k": 1}'


def test_one_byte_varints_take_the_quick_way_with_the_same_values() -> None:
    values = np.arange(600_000) % 128
    decoded = _decoded(drucker_pb2.ArrIntInput(input=values.tolist()).SerializeToString())
    np.testing.assert_array_equal(decoded.input, values)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=300),
    slice_bytes=st.integers(VARINT_MAX_BYTES, 64),
)
def test_varints_decode_as_protobuf_parses_them_whatever_the_slices(
    values: list[int], slice_bytes: int
) -> None:
    packed = drucker_pb2.ArrIntInput(input=values).SerializeToString()
    spans = packed_module._spans(packed) or {}
    _, start, end = spans.get(1, [(2, 0, 0)])[0]  # no field at all for no values
    with mock.patch.object(packed_module, "VARINT_SLICE_BYTES", slice_bytes):
        decoded = packed_module._varints(packed, start, end)
    assert decoded is not None
    assert decoded.tolist() == values


def test_a_small_or_unpacked_arr_int_input_is_parsed_by_protobuf() -> None:
    small = arr_int_request(drucker_pb2.ArrIntInput(input=[1, -2]).SerializeToString())
    assert isinstance(small, drucker_pb2.ArrIntInput) and list(small.input) == [1, -2]
    values = list(range(PACKED_MIN_BYTES))
    unpacked = b"".join(b"\x08" + bytes([v % 128]) for v in values)  # field 1, one varint each
    decoded = arr_int_request(unpacked)
    assert isinstance(decoded, drucker_pb2.ArrIntInput)
    assert list(decoded.input) == [v % 128 for v in values]


def test_malformed_varints_are_refused_with_protobufs_reason() -> None:
    data = drucker_pb2.ArrIntInput(input=list(range(1000, 10_000))).SerializeToString()
    cut = bytearray(data)
    cut[-1] |= 0x80  # the last varint never ends
    with pytest.raises(InvalidInputError, match="ArrInt input does not decode"):
        _decoded(bytes(cut))
    body = b"\x01" * PACKED_MIN_BYTES + b"\xff" * 11 + b"\x01"  # one varint of twelve bytes
    header = b"\x0a" + varint(len(body))
    with pytest.raises(InvalidInputError, match="ArrInt input"):
        _decoded(header + body)
