"""The SDK's Open Inference (V2) calls: numpy arrays in and out, FP64 exact, many rows per call;
``drucker predict --protocol v2``; and the Drucker protocol's 32-bit ``ArrFloat`` beside it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from drucker.cli import main
from drucker.client import Client, InvalidArgument
from drucker.client.aio import AsyncClient
from drucker.kinds import Kind
from tests.plugins import tensor_plugin
from tests.serving import ThreadedServer

BIG = 123456789.123  # not a float32: the Drucker protocol gives back 123456800.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    workdir: Path = tmp_path_factory.mktemp("client-infer")
    with ThreadedServer(tensor_plugin, None, {"application_name": "t"}, workdir=workdir) as server:
        yield server


def test_infer_sends_fp64_rows_exactly_where_the_drucker_protocol_rounds(
    server: ThreadedServer,
) -> None:
    rows = np.array([[BIG, 0.0, 0.0], [0.1, 0.2, 0.3]], dtype=np.float64)
    with Client(server.target) as client:
        text = client.infer(rows)
        outputs = client.infer(rows, parameters={"output_kind": "ArrFloat"})
        drucker = client.predict([BIG, 0.0, 0.0], output=Kind.STRING)
    # the plugin answers each row's first element as its label (text without a signature)
    assert text["label"].tolist() == [str(BIG).encode(), b"0.1"]
    # numeric labels when asked for; the default signature declares them FP32
    assert outputs["label"].dtype == np.float32
    assert outputs["label"].tolist() == [float(np.float32(BIG)), float(np.float32(0.1))]
    assert drucker.label == str(float(np.float32(BIG))) == "123456792.0"  # 32-bit ArrFloat


def test_infer_takes_named_tensors_and_integer_rows_in_both_clients(
    server: ThreadedServer,
) -> None:
    rows = np.arange(6, dtype=np.int64).reshape(3, 2)

    async def infer_async() -> dict[str, np.ndarray]:
        async with AsyncClient(server.target) as client:
            return await client.infer({"input": rows}, model="t", outputs=["score"])

    answered = asyncio.run(infer_async())
    assert list(answered) == ["score"] and answered["score"].tolist() == [1.0, 5.0, 9.0]
    with Client(server.target) as client:
        assert client.infer(rows)["label"].tolist() == [b"0", b"2", b"4"]


def test_a_refused_tensor_is_a_clear_client_error(server: ThreadedServer) -> None:
    with Client(server.target) as client:
        with pytest.raises(InvalidArgument, match="negative first feature"):
            client.infer(np.array([[-1.0, 2.0]]))
        with pytest.raises(TypeError, match="no datatype for numpy's complex128"):
            client.infer(np.array([[1j]]))


def test_drucker_predict_protocol_v2(server: ThreadedServer) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["predict", f"[[{BIG}, 0, 0], [1, 2, 3]]", "--protocol", "v2", "--target", server.target],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["label"] == [str(BIG), "1.0"]  # exact: the rows went as FP64
    assert answer["score"] == pytest.approx([BIG, 6.0])
    refused = runner.invoke(
        main, ["predict", "[1]", "--protocol", "v2", "--raw", "--target", server.target]
    )
    assert refused.exit_code == 2 and "go with --protocol drucker" in refused.output
