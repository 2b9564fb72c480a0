"""The columnar tensor hook (``drucker_predict_tensor``) over real gRPC servers: answers equal
the row-by-row ones of the Drucker protocol, and every way a plugin can answer wrongly ends the
request with an exact status code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.plugins import tensor_plugin
from tests.serving import ThreadedServer

ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8]],
    dtype=np.float32,
)
OUTPUT_KINDS = [Kind.STRING, Kind.ARR_STRING, Kind.ARR_FLOAT, Kind.ARR_INT]


def infer(
    server: ThreadedServer, rows: np.ndarray, datatype: str, **parameters: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One ModelInfer with typed contents; the answer's tensors and parameters."""
    request = pb.ModelInferRequest(model_name=server.settings.application_name)
    tensor = request.inputs.add(name="input", datatype=datatype, shape=list(rows.shape))
    field = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT64": "int64_contents"}
    getattr(tensor.contents, field[datatype]).extend(rows.reshape(-1).tolist())
    for key, value in parameters.items():
        request.parameters[key].string_param = value
    with server.channel() as channel:
        reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    outputs = {}
    for output in reply.outputs:
        values = (
            list(output.contents.bytes_contents)
            or list(output.contents.fp32_contents)
            or list(output.contents.fp64_contents)
            or list(output.contents.int_contents)
            or list(output.contents.int64_contents)
        )
        outputs[output.name] = np.array(values, dtype=object).reshape(list(output.shape))
    parameters_out = {key: p.string_param for key, p in reply.parameters.items()}
    return outputs, parameters_out


def row_answers(server: ThreadedServer, rows: np.ndarray, output_kind: Kind) -> list[Any]:
    """What the Drucker protocol answers for each row alone (the plugin's drucker_predict)."""
    with server.channel() as channel:
        return [call(channel, Kind.ARR_FLOAT, output_kind, row.tolist()) for row in rows]


@pytest.fixture(scope="module")
def numeric_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier whose classes are the numbers 3, 7 and 11."""
    generator = np.random.default_rng(0)
    x = generator.normal(size=(150, 4)) + np.repeat(np.eye(3, 4) * 3, 50, axis=0)
    y = np.repeat([3, 7, 11], 50)
    path = tmp_path_factory.mktemp("numeric") / "numeric.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    return path


@pytest.fixture(scope="module", params=["iris", "numeric"])
def sklearn_server(
    request: pytest.FixtureRequest,
    iris_model: Path,
    numeric_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ThreadedServer]:
    model = iris_model if request.param == "iris" else numeric_model
    workdir = tmp_path_factory.mktemp(f"tensor-{request.param}")
    settings = {"application_name": request.param}
    with ThreadedServer("drucker_sklearn", str(model), settings, workdir=workdir) as server:
        assert server.runtime.can_predict_tensor
        yield server


@pytest.mark.parametrize("output_kind", OUTPUT_KINDS, ids=lambda kind: kind.value)
@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_tensor_answers_equal_the_single_row_answers(
    sklearn_server: ThreadedServer, output_kind: Kind, datatype: str
) -> None:
    outputs, _ = infer(sklearn_server, ROWS, datatype, output_kind=output_kind.value)
    expected = row_answers(sklearn_server, ROWS, output_kind)
    labels, scores = outputs["label"].tolist(), outputs["score"].tolist()
    if output_kind is Kind.STRING:
        assert [label.decode() for label in labels] == [answer.label for answer in expected]
        assert scores == pytest.approx([answer.score for answer in expected], abs=1e-6)
        return
    for label, score, answer in zip(labels, scores, expected, strict=True):
        if output_kind is Kind.ARR_STRING:
            assert [text.decode() for text in label] == list(answer.label)
        else:
            assert label == pytest.approx(list(answer.label))
        assert score == pytest.approx(list(answer.score), abs=1e-6)


def test_the_log_holds_the_rows_as_sent_and_the_answers(tmp_path: Path, iris_model: Path) -> None:
    settings = {"application_name": "iris"}
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        outputs, _ = infer(server, ROWS[:2], "FP32")
    lines = [json.loads(line) for line in server.log.getvalue().splitlines()]
    logged = [line for line in lines if line.get("short_message") == "Predict_ArrFloat_String"]
    assert len(logged) == 1
    # float32 rows are written as the float32 numbers the client sent
    assert logged[0]["ml_input"] == [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5]]
    assert logged[0]["ml_output"] == [label.decode() for label in outputs["label"].tolist()]
    assert logged[0]["ml_score"] == pytest.approx(outputs["score"].tolist(), abs=1e-6)


@pytest.fixture(scope="module")
def tensor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    workdir = tmp_path_factory.mktemp("tensor-plugin")
    with ThreadedServer(tensor_plugin, None, {"application_name": "t"}, workdir=workdir) as server:
        yield server


@pytest.mark.parametrize(
    ("datatype", "rows", "dtype"),
    [
        ("FP32", ROWS, "<f4"),
        ("FP64", ROWS.astype(np.float64), "<f8"),
        ("INT64", np.arange(8, dtype=np.int64).reshape(2, 4), "<i8"),
    ],
)
def test_the_hook_gets_the_rows_read_only_in_the_wire_dtype(
    tensor_server: ThreadedServer, datatype: str, rows: np.ndarray, dtype: str
) -> None:
    tensor_plugin.received.clear()
    outputs, parameters = infer(tensor_server, rows, datatype, output_kind="ArrFloat")
    assert tensor_plugin.received == [(dtype, rows.shape, False)]
    assert parameters["kind"] == ("ArrFloat" if datatype.startswith("FP") else "ArrInt")
    # one label per row, answered as [N] as the default signature's label tensor is 1-d
    assert outputs["label"].shape == (len(rows),)
    assert outputs["label"].reshape(-1).tolist() == pytest.approx(rows[:, 0].tolist())
    assert outputs["score"].reshape(-1).tolist() == pytest.approx(rows.sum(axis=1).tolist())


def test_a_one_dimensional_tensor_is_one_row(tensor_server: ThreadedServer) -> None:
    tensor_plugin.received.clear()
    outputs, _ = infer(tensor_server, np.array([2.0, 3.0], dtype=np.float32), "FP32")
    assert tensor_plugin.received == [("<f4", (1, 2), False)]
    assert outputs["label"].tolist() == [b"2.0"]


@pytest.mark.parametrize(
    ("mode", "output_kind", "code", "message"),
    [
        ("reject", "String", grpc.StatusCode.INVALID_ARGUMENT, "not for this model"),
        ("crash", "String", grpc.StatusCode.INTERNAL, "the model broke"),
        ("not-a-result", "String", grpc.StatusCode.INTERNAL, "must return drucker.TensorResult"),
        ("short", "String", grpc.StatusCode.INTERNAL, "returned 3 labels for 4 rows"),
        # as for single predictions: an answer that does not fit the asked output kind
        ("text-for-numbers", "ArrInt", grpc.StatusCode.INVALID_ARGUMENT, "needs integers"),
        ("ragged", "ArrInt", grpc.StatusCode.INVALID_ARGUMENT, "different numbers of labels"),
    ],
)
def test_wrong_answers_end_the_request_with_an_exact_code(
    tensor_server: ThreadedServer, mode: str, output_kind: str, code: grpc.StatusCode, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        infer(tensor_server, ROWS, "FP32", mode=mode, output_kind=output_kind)
    assert caught.value.code() is code
    assert message in caught.value.details()


async def _infer_together(server: ThreadedServer, requests: list[Any]) -> list[Any]:
    """Send ``requests`` at once on one channel; each one's reply or its error."""
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        return await asyncio.gather(
            *(stub.ModelInfer(request, timeout=10) for request in requests),
            return_exceptions=True,
        )


def _request(rows: np.ndarray, datatype: str = "FP32", **parameters: str) -> Any:
    request = pb.ModelInferRequest(model_name="t")
    tensor = request.inputs.add(name="input", datatype=datatype, shape=list(rows.shape))
    field = "fp32_contents" if datatype == "FP32" else "fp64_contents"
    getattr(tensor.contents, field).extend(rows.reshape(-1).tolist())
    for key, value in parameters.items():
        request.parameters[key].string_param = value
    return request


def _scores(reply: Any) -> list[float]:
    (score,) = [output for output in reply.outputs if output.name == "score"]
    return list(score.contents.fp64_contents or score.contents.fp32_contents)


@pytest.fixture
def slow_tensors() -> Iterator[None]:
    tensor_plugin.delay[0] = 0.05  # long enough for concurrent requests to queue behind a call
    tensor_plugin.received.clear()
    yield
    tensor_plugin.delay[0] = 0.0


@pytest.mark.usefixtures("slow_tensors")
def test_concurrent_tensors_share_a_call_and_each_gets_its_own_rows(
    tensor_server: ThreadedServer,
) -> None:
    blocks = [np.full((index + 1, 3), index + 1, dtype=np.float32) for index in range(6)]
    replies = asyncio.run(_infer_together(tensor_server, [_request(block) for block in blocks]))
    for block, reply in zip(blocks, replies, strict=True):
        assert not isinstance(reply, BaseException), reply
        assert _scores(reply) == pytest.approx(block.sum(axis=1).tolist())
    sizes = [shape[0] for _, shape, _ in tensor_plugin.received]
    assert sum(sizes) == sum(len(block) for block in blocks)
    assert len(sizes) < len(blocks)  # some were stacked into one call


@pytest.mark.usefixtures("slow_tensors")
def test_a_bad_tensor_in_a_shared_call_fails_only_itself(tensor_server: ThreadedServer) -> None:
    blocks = [np.full((2, 3), value, dtype=np.float32) for value in (1, 2, -3, 4, 5)]
    replies = asyncio.run(_infer_together(tensor_server, [_request(block) for block in blocks]))
    for block, reply in zip(blocks, replies, strict=True):
        if block[0, 0] < 0:
            assert isinstance(reply, grpc.aio.AioRpcError)
            assert reply.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "negative first feature" in (reply.details() or "")
        else:
            assert _scores(reply) == pytest.approx(block.sum(axis=1).tolist())
    assert max(shape[0] for _, shape, _ in tensor_plugin.received) > 2  # a shared call failed


@pytest.mark.usefixtures("slow_tensors")
def test_tensors_of_another_dtype_width_or_with_an_option_are_not_stacked(
    tensor_server: ThreadedServer,
) -> None:
    requests = [
        _request(np.ones((2, 3), dtype=np.float32)),
        _request(np.ones((2, 3), dtype=np.float32)),
        _request(np.ones((2, 4), dtype=np.float32)),
        _request(np.ones((2, 3)), datatype="FP64"),
        _request(np.ones((2, 3), dtype=np.float32), trace="a"),
    ]
    replies = asyncio.run(_infer_together(tensor_server, requests))
    assert not any(isinstance(reply, BaseException) for reply in replies)
    calls = sorted((dtype, shape) for dtype, shape, _ in tensor_plugin.received)
    # the two plain FP32 [2, 3] requests may share a call; nothing else is stacked
    assert ("<f4", (2, 4)) in calls and ("<f8", (2, 3)) in calls
    assert all(shape in ((2, 3), (4, 3), (2, 4)) for _, shape in calls)
    assert sum(shape[0] for _, shape in calls) == 10
    assert calls.count(("<f4", (4, 3))) <= 1
