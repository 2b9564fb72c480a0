"""A big ArrFloat or ArrInt request reaches the plugin as a read-only numpy array: a view of
its packed floats, its varints decoded off the event loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

import drucker
from drucker import PredictResult
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.protocol.packed import PACKED_MIN_BYTES
from tests.serving import ThreadedServer


class InputProbe:
    """Answers what it was given: the input's type, dtype, writability and sum."""

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> str:
        return "probe"

    @drucker.hookimpl
    def drucker_predict(self, model: str, input: Any) -> PredictResult:
        array = np.asarray(input)
        writable = bool(array.flags.writeable) if isinstance(input, np.ndarray) else None
        label = f"{type(input).__name__} {array.dtype} {writable}"
        return PredictResult(label=label, score=float(array.sum(dtype=np.float64)))


def test_a_big_arr_float_input_is_a_read_only_float32_array(echo_model: Path) -> None:
    values = np.random.default_rng(0).normal(size=PACKED_MIN_BYTES).astype(np.float32)
    with ThreadedServer(InputProbe(), str(echo_model)) as server, server.channel() as channel:
        stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
        big = stub.Predict_ArrFloat_String(
            drucker_pb2.ArrFloatInput(input=values.tolist()), timeout=30
        )
        small = stub.Predict_ArrFloat_String(
            drucker_pb2.ArrFloatInput(input=[1.5, 2.5]), timeout=30
        )
    assert big.output == "ndarray float32 False"
    assert big.score == np.float32(values.sum(dtype=np.float64))
    assert small.output.split()[0] != "ndarray" and small.score == 4.0


def test_a_big_arr_int_input_is_a_read_only_int32_array(echo_model: Path) -> None:
    values = np.random.default_rng(0).integers(-(2**20), 2**20, size=PACKED_MIN_BYTES)
    with ThreadedServer(InputProbe(), str(echo_model)) as server, server.channel() as channel:
        stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
        big = stub.Predict_ArrInt_String(drucker_pb2.ArrIntInput(input=values.tolist()), timeout=30)
        small = stub.Predict_ArrInt_String(drucker_pb2.ArrIntInput(input=[1, -2]), timeout=30)
        cut = bytearray(drucker_pb2.ArrIntInput(input=values.tolist()).SerializeToString())
        cut[-1] |= 0x80  # the last varint never ends
        raw = channel.unary_unary("/drucker.DruckerWorker/Predict_ArrInt_String")
        with pytest.raises(grpc.RpcError) as refused:
            raw(bytes(cut), timeout=30)
    assert big.output == "ndarray int32 False"
    assert big.score == np.float32(values.sum(dtype=np.float64))
    assert small.output.split()[0] != "ndarray" and small.score == -1.0
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "ArrInt input does not decode" in refused.value.details()
