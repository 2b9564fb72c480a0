"""Big ArrFloat requests: their packed floats as a read-only numpy view, other layouts parsed."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from google.protobuf.message import DecodeError

from drucker._wire import drucker_pb2
from drucker.protocol.packed import PACKED_MIN_BYTES, PackedArrFloat, arr_float_request

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
