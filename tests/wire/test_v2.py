"""The Open Inference Protocol (V2) with a real third-party client: tritonclient."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.clients import assert_int_rows_come_back, assert_matches, run_client
from tests.serving import ThreadedServer

triton = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed")

ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8]],
    dtype=np.float32,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[ThreadedServer]:
    settings = {"application_name": "iris"}
    workdir = tmp_path_factory.mktemp("v2")
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=workdir) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ThreadedServer) -> Iterator[object]:
    client = triton.InferenceServerClient(url=server.target)
    yield client
    client.close()


def drucker_answers(server: ThreadedServer) -> list[tuple[str, float]]:
    with server.channel() as channel:
        answers = [call(channel, Kind.ARR_FLOAT, Kind.STRING, row.tolist()) for row in ROWS]
    return [(a.label, a.score) for a in answers]


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "iris.joblib")
    assert not client.is_model_ready("iris", "other.joblib")
    server_meta = client.get_server_metadata()
    assert server_meta.name == "drucker"
    model_meta = client.get_model_metadata("iris")
    assert model_meta.name == "iris"
    assert "iris.joblib" in model_meta.versions
    assert [(t.name, t.datatype, list(t.shape)) for t in model_meta.inputs] == [
        ("input", "FP32", [-1, 4])
    ]
    assert [t.name for t in model_meta.outputs] == ["label", "score"]


def test_a_batch_of_rows_matches_the_drucker_protocol(
    client: triton.InferenceServerClient, server: ThreadedServer
) -> None:
    tensor = triton.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    result = client.infer(
        "iris",
        [tensor],
        outputs=[triton.InferRequestedOutput("label"), triton.InferRequestedOutput("score")],
        request_id="req-7",
        parameters={"trace": "yes"},
    )
    labels = [v.decode() for v in result.as_numpy("label")]
    scores = result.as_numpy("score").tolist()
    expected = drucker_answers(server)
    assert labels == [label for label, _ in expected]
    assert scores == pytest.approx([score for _, score in expected], abs=1e-6)
    assert result.get_response().id == "req-7"
    assert labels[:3] == ["setosa", "versicolor", "virginica"]


def test_array_outputs_through_the_output_kind_parameter(
    client: triton.InferenceServerClient,
) -> None:
    tensor = triton.InferInput("input", [2, 4], "FP64")
    tensor.set_data_from_numpy(ROWS[:2].astype(np.float64))
    result = client.infer("iris", [tensor], parameters={"output_kind": "ArrString"})
    ranking = result.as_numpy("label")
    assert ranking.shape == (2, 3)
    assert ranking[0][0].decode() == "setosa"
    assert result.as_numpy("score").sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_typed_contents(server: ThreadedServer) -> None:
    request = pb.ModelInferRequest(model_name="iris", id="typed")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    tensor.contents.fp32_contents.extend(ROWS[:2].reshape(-1).tolist())
    with server.channel() as channel:
        reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert reply.id == "typed"
    assert not reply.raw_output_contents
    outputs = {o.name: o for o in reply.outputs}
    assert list(outputs["label"].contents.bytes_contents) == [b"setosa", b"versicolor"]
    assert list(outputs["label"].shape) == [2]
    assert len(outputs["score"].contents.fp32_contents) == 2


@pytest.mark.parametrize(
    ("model", "shape", "datatype", "code", "message"),
    [
        ("nope", [1, 4], "FP32", grpc.StatusCode.NOT_FOUND, "no model named 'nope'"),
        ("iris", [1, 5], "FP32", grpc.StatusCode.INVALID_ARGUMENT, "the model rejected"),
    ],
)
def test_errors(
    client: triton.InferenceServerClient,
    model: str,
    shape: list[int],
    datatype: str,
    code: grpc.StatusCode,
    message: str,
) -> None:
    tensor = triton.InferInput("input", shape, datatype)
    tensor.set_data_from_numpy(np.ones(shape, dtype=np.float32))
    with pytest.raises(triton.InferenceServerException) as caught:
        client.infer(model, [tensor])
    assert caught.value.status() == f"StatusCode.{code.name}"
    assert message in caught.value.message()


def test_unknown_datatype(server: ThreadedServer) -> None:
    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input", datatype="BF16", shape=[2, 4])
    request.raw_input_contents.append(bytes(16))
    with server.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "datatype 'BF16'" in caught.value.details()


def test_shape_that_the_data_do_not_fill(server: ThreadedServer) -> None:
    request = pb.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    tensor.contents.fp32_contents.extend([1.0] * 5)
    with server.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "do not fill shape [2, 4]" in caught.value.details()


def test_unknown_version_is_not_found(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(ROWS[:1])
    with pytest.raises(triton.InferenceServerException) as caught:
        client.infer("iris", [tensor], model_version="gone.joblib")
    assert "not serving" in caught.value.message()


def test_bytes_tensors_raw_and_int_rows(echo_server: ThreadedServer) -> None:
    client = triton.InferenceServerClient(url=echo_server.target)
    try:
        texts = triton.InferInput("input", [2], "BYTES")
        texts.set_data_from_numpy(np.array([b"1,2", b"3"], dtype=object))
        result = client.infer("drucker", [texts], parameters={"output_kind": "Bytes"})
        assert result.as_numpy("label").tolist() == [b"1,2", b"3"]
        assert result.get_response().parameters["model"].string_param == "echo-a"
        assert_int_rows_come_back(triton, client)
    finally:
        client.close()


@pytest.mark.skipif(importlib.util.find_spec("kserve") is None, reason="kserve is not installed")
def test_kserve_inference_grpc_client_matches_the_drucker_protocol(server: ThreadedServer) -> None:
    """KServe's own client, typed and raw contents, gets what drucker's protocol returns."""
    answer = run_client("kserve_v2", server.target, "iris", ROWS)
    assert_matches(answer, ("typed", "raw"), drucker_answers(server))
