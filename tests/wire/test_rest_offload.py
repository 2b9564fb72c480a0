"""Big V2 REST JSON bodies are decoded in worker processes: the event loop stays free."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import orjson
import pytest

from drucker.errors import InvalidInputError
from drucker.kinds import Kind
from drucker.protocol.v2 import rest_codec as codec
from drucker.protocol.v2.rest import OFF_LOOP_ELEMENTS
from drucker.protocol.v2.rest_offload import (
    OFF_LOOP_BYTES,
    SHM_DIR,
    OffLoopDecoder,
    decode_spooled,
    spool,
)
from tests.calls import call
from tests.serving import ThreadedServer, sklearn_http_server
from tests.wire.test_rest import ROWS, send


def _body(rows: int) -> bytes:
    data = np.arange(rows * 20, dtype=np.float64) / 7
    tensor = {"name": "input", "datatype": "FP64", "shape": [rows, 20], "data": data.tolist()}
    return orjson.dumps({"inputs": [tensor]})


def test_the_loop_answers_while_a_big_body_is_decoded() -> None:
    """Decoding on the loop would finish within the task's first step; here the loop runs
    other work (a health check would be answered) while the worker process decodes."""
    body = _body(20_000)
    assert len(body) >= OFF_LOOP_BYTES

    async def scenario() -> None:
        decoder = OffLoopDecoder()
        try:
            task = asyncio.create_task(decoder.decode(body, None, "m", ""))
            await asyncio.sleep(0)  # the task has run its first step: the body is handed over
            assert decoder.offloaded == 1
            assert not task.done()  # in progress, and this coroutine runs meanwhile
            decoded = await task
            expected = codec.decode_infer(body, None, "m", "")
            np.testing.assert_array_equal(
                decoded.request.inputs[0].data, expected.request.inputs[0].data
            )
            with pytest.raises(InvalidInputError, match="not valid JSON"):
                await decoder.decode(b"{" + b" " * OFF_LOOP_BYTES, None, "m", "")
            small = _body(2)
            assert (await decoder.decode(small, None, "m", "")).request.inputs[0].data.shape == (
                2,
                20,
            )
            assert decoder.offloaded == 2  # the small body was decoded inline
        finally:
            decoder.close()

    asyncio.run(scenario())


def _spooled() -> list[Path]:
    """The bodies waiting for a worker, in either place they are written."""
    places = [Path(SHM_DIR), Path(tempfile.gettempdir())]
    return [path for place in places if place.is_dir() for path in place.glob("drucker-body-*")]


def test_a_body_reaches_the_worker_through_a_file_that_is_removed() -> None:
    before = set(_spooled())
    body = _body(3)
    path = spool(body)
    assert Path(path).read_bytes() == body
    decoded = decode_spooled(path, None, "m", "")
    assert decoded.request.inputs[0].data.shape == (3, 20)
    assert not Path(path).exists()
    with pytest.raises(FileNotFoundError):
        decode_spooled(path, None, "m", "")  # read once
    big = _body(20_000)

    async def decode() -> codec.DecodedInfer:
        decoder = OffLoopDecoder()
        try:
            return await decoder.decode(big, None, "m", "")
        finally:
            decoder.close()

    assert asyncio.run(decode()).request.inputs[0].data.shape == (20_000, 20)
    assert set(_spooled()) <= before  # nothing left behind


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[ThreadedServer]:
    settings = {"application_name": "iris", "max_message_bytes": 8 << 20}
    with sklearn_http_server(iris_model, tmp_path_factory.mktemp("offload"), settings) as server:
        yield server


def test_a_big_body_gets_the_answer_a_small_one_gets(server: ThreadedServer) -> None:
    tensor = {"name": "input", "datatype": "FP32", "shape": list(ROWS.shape)}
    document = json.dumps({"inputs": [{**tensor, "data": ROWS.reshape(-1).tolist()}]}).encode()
    path = "/v2/models/iris/infer"
    small = send(server, "POST", path, document)
    big = send(server, "POST", path, document + b" " * OFF_LOOP_BYTES)  # JSON past the bound
    assert small[0] == big[0] == 200, big[2]
    assert json.loads(big[2])["outputs"] == json.loads(small[2])["outputs"]
    status, _, answer = send(server, "POST", path, b"{" + b" " * OFF_LOOP_BYTES)
    assert status == 400 and "not valid JSON" in json.loads(answer)["error"]


def test_a_big_answer_encoded_off_the_loop_is_the_answer_of_its_rows(
    server: ThreadedServer,
) -> None:
    rows = np.tile(ROWS, (OFF_LOOP_ELEMENTS // len(ROWS) + 1, 1))  # more values than the bound
    tensor = {"name": "input", "datatype": "FP32", "shape": list(rows.shape)}
    path = "/v2/models/iris/infer"
    big = send(
        server,
        "POST",
        path,
        orjson.dumps({"inputs": [{**tensor, "data": rows}]}, option=orjson.OPT_SERIALIZE_NUMPY),
    )
    small = send(
        server,
        "POST",
        path,
        orjson.dumps(
            {"inputs": [{**tensor, "shape": list(ROWS.shape), "data": ROWS}]},
            option=orjson.OPT_SERIALIZE_NUMPY,
        ),
    )
    assert big[0] == small[0] == 200, big[2]
    outputs = json.loads(big[2])["outputs"]
    assert sum(len(output["data"]) for output in outputs) > OFF_LOOP_ELEMENTS
    for got, want in zip(outputs, json.loads(small[2])["outputs"], strict=True):
        per_row = len(want["data"]) // len(ROWS)
        assert got["data"][: len(want["data"])] == want["data"]
        assert len(got["data"]) == per_row * len(rows)


def test_a_row_of_the_wrong_length_is_refused_before_it_is_converted(
    server: ThreadedServer,
) -> None:
    """Big ArrFloat rows of the wrong length are refused by their length, not by converting
    millions of floats for scikit-learn to refuse (the conversion holds the GIL)."""
    with server.channel() as channel:
        with pytest.raises(grpc.RpcError) as refused:
            call(channel, Kind.ARR_FLOAT, Kind.STRING, [0.5] * 20_000)  # a packed big request
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "the input has 20000 numbers; this model takes 4" in refused.value.details()
