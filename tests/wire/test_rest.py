"""The Open Inference Protocol over HTTP (V2 REST): tritonclient's HTTP client and raw HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.clients import assert_int_rows_come_back, assert_matches, run_client
from tests.conftest import ECHO_PLUGIN, REPO
from tests.polling import wait_for
from tests.serving import ServeProcess, ThreadedServer, free_port, sklearn_http_server

triton_http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is missing")
triton_grpc = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is missing")

ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8]],
    dtype=np.float32,
)
GATE_PLUGIN = str(REPO / "tests" / "plugins" / "gate_plugin.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[ThreadedServer]:
    settings = {"application_name": "iris", "v2_max_rows": 8, "max_message_bytes": 64 * 1024}
    workdir = tmp_path_factory.mktemp("rest")
    with sklearn_http_server(iris_model, workdir, settings) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ThreadedServer) -> Iterator[Any]:
    client = triton_http.InferenceServerClient(url=f"127.0.0.1:{server.http_port}")
    yield client
    client.close()


def send(
    server: ThreadedServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; the status, the headers (lower-case names) and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def infer_json(server: ThreadedServer, document: Any, path: str = "/v2/models/iris/infer") -> Any:
    status, _, body = send(server, "POST", path, json.dumps(document).encode())
    return status, json.loads(body)


def drucker_answers(server: ThreadedServer) -> list[tuple[str, float]]:
    with server.channel() as channel:
        answers = [call(channel, Kind.ARR_FLOAT, Kind.STRING, row.tolist()) for row in ROWS]
    return [(a.label, a.score) for a in answers]


def grpc_v2_answers(server: ThreadedServer) -> tuple[list[str], list[float]]:
    client = triton_grpc.InferenceServerClient(url=server.target)
    try:
        tensor = triton_grpc.InferInput("input", list(ROWS.shape), "FP32")
        tensor.set_data_from_numpy(ROWS)
        result = client.infer("iris", [tensor])
        return [v.decode() for v in result.as_numpy("label")], result.as_numpy("score").tolist()
    finally:
        client.close()


def test_health_and_metadata_through_tritonclient(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "iris.joblib")
    assert not client.is_model_ready("iris", "other.joblib")
    assert client.get_server_metadata()["name"] == "drucker"
    meta = client.get_model_metadata("iris")
    assert meta["name"] == "iris"
    assert "iris.joblib" in meta["versions"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("input", "FP32", [-1, 4])
    ]
    assert [t["name"] for t in meta["outputs"]] == ["label", "score"]
    assert client.get_model_metadata("iris", "iris.joblib")["name"] == "iris"


def test_a_version_that_does_not_serve_is_not_ready(server: ThreadedServer) -> None:
    status, _, body = send(server, "GET", "/v2/models/iris/versions/other.joblib/ready")
    assert (status, json.loads(body)) == (503, {"name": "iris", "ready": False})
    status, _, body = send(server, "GET", "/v2/models/iris/versions/iris.joblib/ready")
    assert (status, json.loads(body)) == (200, {"name": "iris", "ready": True})


@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
def test_answers_equal_grpc_v2_and_the_drucker_protocol(
    client: Any, server: ThreadedServer, binary_in: bool, binary_out: bool
) -> None:
    tensor = triton_http.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=binary_in)
    outputs = [
        triton_http.InferRequestedOutput(name, binary_data=binary_out)
        for name in ("label", "score")
    ]
    result = client.infer(
        "iris", [tensor], outputs=outputs, request_id="rest-7", parameters={"trace": "yes"}
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    scores = result.as_numpy("score").tolist()
    expected = drucker_answers(server)
    assert labels == [label for label, _ in expected]
    assert scores == pytest.approx([score for _, score in expected], abs=1e-6)
    grpc_labels, grpc_scores = grpc_v2_answers(server)
    assert labels == grpc_labels
    assert scores == pytest.approx(grpc_scores, abs=1e-7)
    response = result.get_response()
    assert response["id"] == "rest-7"
    assert response["model_version"] == "iris.joblib"


def test_nested_and_flat_data_outputs_and_array_kinds(server: ThreadedServer) -> None:
    tensor = {"name": "input", "shape": [2, 4], "datatype": "FP64"}
    nested = {"inputs": [{**tensor, "data": ROWS[:2].tolist()}]}
    flat = {"inputs": [{**tensor, "data": ROWS[:2].reshape(-1).tolist()}], "outputs": []}
    status, nested_answer = infer_json(server, nested)
    assert status == 200
    assert infer_json(server, flat) == (200, nested_answer)
    assert nested_answer["outputs"][0] == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["setosa", "versicolor"],
    }
    only_score = {**nested, "outputs": [{"name": "score"}]}
    status, answer = infer_json(server, only_score)
    assert [o["name"] for o in answer["outputs"]] == ["score"]
    ranked = {**nested, "parameters": {"output_kind": "ArrString"}}
    status, answer = infer_json(server, ranked)
    label, score = answer["outputs"]
    assert (label["shape"], label["data"][0]) == ([2, 3], "setosa")
    assert sum(score["data"][:3]) == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def echo_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    model = tmp_path_factory.mktemp("echo-rest") / "echo.model"
    model.write_text("echo-a\n")
    with ThreadedServer(ECHO_PLUGIN, str(model), http=True) as server:
        yield server


def test_bytes_and_integer_tensors(echo_http: ThreadedServer) -> None:
    client = triton_http.InferenceServerClient(url=f"127.0.0.1:{echo_http.http_port}")
    try:
        for binary in (False, True):
            texts = triton_http.InferInput("input", [2], "BYTES")
            texts.set_data_from_numpy(np.array([b"1,2", b"3"], dtype=object), binary_data=binary)
            outputs = [triton_http.InferRequestedOutput("label", binary_data=binary)]
            result = client.infer(
                "drucker", [texts], outputs=outputs, parameters={"output_kind": "Bytes"}
            )
            labels = [v if isinstance(v, bytes) else v.encode() for v in result.as_numpy("label")]
            assert labels == [b"1,2", b"3"]
            assert result.get_response()["parameters"]["model"] == "echo-a"
        assert_int_rows_come_back(triton_http, client)
    finally:
        client.close()
    document = {
        "inputs": [{"name": "input", "shape": [1, 2], "datatype": "BOOL", "data": [True, False]}],
        "parameters": {"output_kind": "ArrInt"},
    }
    status, answer = infer_json(echo_http, document, "/v2/models/drucker/infer")
    assert (status, answer["outputs"][0]["data"]) == (200, [1, 0])


def _input(**changes: Any) -> dict[str, Any]:
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}
    return {"inputs": [{**tensor, **changes}]}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b"{}", 400, "needs 'inputs'"),
        (json.dumps(_input(shape=[2, 4])).encode(), 400, "do not fill shape [2, 4]"),
        (json.dumps(_input(shape=[1, "4"])).encode(), 400, "'shape' must be a list of integers"),
        (json.dumps(_input(data=[[1.0, 2.0], [3.0]])).encode(), 400, "equal-length lists"),
        (json.dumps(_input(datatype="BF16")).encode(), 400, "datatype 'BF16' is not one of"),
        (json.dumps(_input(data=["a", "b", "c", "d"])).encode(), 400, "FP32 data must be numbers"),
        (json.dumps(_input(datatype="INT8", data=[1, 2, 3, 300])).encode(), 400, "not fit INT8"),
        (json.dumps(_input(datatype="FP16", data=[1, 2, 3, 1e6])).encode(), 400, "not fit FP16"),
        (json.dumps(_input(data=None)).encode(), 400, "FP32 data must be numbers"),
        (json.dumps(_input(shape=[1, 5], data=[1] * 5)).encode(), 400, "the model rejected"),
        (json.dumps({**_input(), "outputs": [{"name": "x"}]}).encode(), 400, "unknown output"),
        (json.dumps({**_input(), "parameters": []}).encode(), 400, "must be a JSON object"),
        (json.dumps(_input(shape=[9, 4], data=[0.0] * 36)).encode(), 413, "v2.max_rows"),
    ],
)
def test_bad_input_gets_a_clear_error(
    server: ThreadedServer, body: bytes, status: int, message: str
) -> None:
    got_status, headers, got = send(server, "POST", "/v2/models/iris/infer", body)
    assert got_status == status
    assert headers["content-type"] == "application/json"
    assert message in json.loads(got)["error"]


def test_binary_framing_errors(server: ThreadedServer) -> None:
    header = json.dumps(_input(data=None, parameters={"binary_data_size": 16})).encode()
    raw = ROWS[:1].tobytes()
    framed = {"Inference-Header-Content-Length": str(len(header))}
    assert send(server, "POST", "/v2/models/iris/infer", header + raw, framed)[0] == 200
    for body, headers, message in [
        (header + raw[:8], framed, "runs past the end"),
        (header + raw + b"xx", framed, "belong to no input"),
        (header + raw, {"Inference-Header-Content-Length": "999"}, "does not fit a body"),
        (header + raw, {"Inference-Header-Content-Length": "x"}, "whole number"),
    ]:
        status, _, got = send(server, "POST", "/v2/models/iris/infer", body, headers)
        assert (status, message in json.loads(got)["error"]) == (400, True)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v2/models/nope/infer", 404),
        ("POST", "/v2/models/iris/versions/gone.joblib/infer", 404),
        ("GET", "/v2/models/nope", 404),
        ("GET", "/v2/models/nope/ready", 404),
        ("GET", "/v2/models/iris/infer", 405),
        ("POST", "/v2/health/ready", 405),
        ("GET", "/v1/models", 404),
    ],
)
def test_unknown_models_and_routes(
    server: ThreadedServer, method: str, path: str, status: int
) -> None:
    body = json.dumps(_input()).encode() if method == "POST" else None
    got_status, _, got = send(server, method, path, body)
    assert got_status == status
    assert json.loads(got)["error"]


def test_bodies_over_the_message_limit_get_413(server: ThreadedServer) -> None:
    big = json.dumps(_input(data=[0.5] * 40_000, shape=[1, 40_000])).encode()
    assert len(big) > 64 * 1024
    status, _, got = send(server, "POST", "/v2/models/iris/infer", big)
    assert status == 413
    assert "grpc.max_message_bytes" in json.loads(got)["error"]
    # Without a Content-Length (chunked), the limit holds while the body is read.
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        chunks = (big[i : i + 8192] for i in range(0, len(big), 8192))
        connection.request("POST", "/v2/models/iris/infer", body=chunks, encode_chunked=True)
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert send(server, "GET", "/v2/health/ready")[0] == 200


@pytest.fixture(scope="module")
def slow_body_server(
    tmp_path_factory: pytest.TempPathFactory, iris_model: Path
) -> Iterator[ThreadedServer]:
    settings = {"application_name": "iris", "http_read_timeout_seconds": 0.5}
    workdir = tmp_path_factory.mktemp("rest-slow")
    with sklearn_http_server(iris_model, workdir, settings) as server:
        yield server


def test_a_slow_partial_body_times_out_and_others_are_served(
    slow_body_server: ThreadedServer,
) -> None:
    server = slow_body_server
    body = json.dumps(_input()).encode()
    stalled = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
        sock.sendall(
            b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        stalled.append(sock)
    try:
        # While the partial bodies hang, whole requests are answered.
        status, _, answer = send(server, "POST", "/v2/models/iris/infer", body)
        assert status == 200, answer
        for sock in stalled:
            received = b""
            while chunk := sock.recv(65536):  # the server answers, then closes
                received += chunk
            assert received.startswith(b"HTTP/1.1 408 "), received[:100]
            assert b"did not arrive within 0.5 s" in received
    finally:
        for sock in stalled:
            sock.close()
    assert send(server, "GET", "/v2/health/live")[0] == 200


def test_slow_request_heads_and_silent_connections_are_closed(
    slow_body_server: ThreadedServer,
) -> None:
    server = slow_body_server
    trickling = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    silent = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    kept = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        trickling.sendall(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-")
        # A keep-alive connection whose second request head stalls is closed as well.
        kept.request("GET", "/v2/health/live")
        assert kept.getresponse().read() == b'{"live":true}'
        assert kept.sock is not None
        kept.sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHo")
        for sock in (trickling, silent, kept.sock):
            assert sock.recv(65536) == b""  # closed by the server, without an answer
    finally:
        trickling.close()
        silent.close()
        kept.close()
    assert send(server, "GET", "/v2/health/live")[0] == 200


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Any]:
    settings = {
        "application_name": "iris",
        "management_token": "s3cret",
        "protect_predictions": True,
    }
    workdir = tmp_path_factory.mktemp("rest-auth")
    with sklearn_http_server(iris_model, workdir, settings) as server:
        yield server


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong", 401), ("s3cret", 401), ("Bearer s3cret", 200)],
)
def test_protected_predictions_need_the_bearer_token(
    protected: ThreadedServer, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = json.dumps(_input()).encode()
    got_status, _, got = send(protected, "POST", "/v2/models/iris/infer", body, headers)
    assert got_status == status
    if status == 401:
        assert "token" in json.loads(got)["error"]
    # Model metadata and model readiness need the token as on gRPC (they name what serves);
    # server health and readiness stay open for probes.
    assert send(protected, "GET", "/v2/models/iris", headers=headers)[0] == status
    ready = 200 if status == 200 else 401
    assert send(protected, "GET", "/v2/models/iris/ready", headers=headers)[0] == ready
    version = "/v2/models/iris/versions/iris.joblib/ready"
    assert send(protected, "GET", version, headers=headers)[0] == ready
    unknown_status, _, unknown = send(protected, "GET", "/v2/models/nope/ready", headers=headers)
    assert unknown_status == (404 if status == 200 else 401)
    if status == 401:
        assert b"iris" not in unknown  # an anonymous caller learns no model's name
    assert send(protected, "GET", "/v2/health/ready")[0] == 200


def test_protected_predictions_cover_grpc_v2_too(protected: ThreadedServer) -> None:
    request = pb.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    tensor.contents.fp32_contents.extend([1.0, 2.0, 3.0, 4.0])
    with protected.channel() as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=10)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        reply = stub.ModelInfer(request, timeout=10, metadata=[("authorization", "Bearer s3cret")])
        assert len(reply.outputs) == 2


def test_requests_in_flight_finish_when_the_server_stops(tmp_path: Path) -> None:
    model = tmp_path / "gate.model"
    model.write_text("gate-a\n")
    entered, gate = tmp_path / "entered", tmp_path / "gate"
    server = ThreadedServer(GATE_PLUGIN, str(model), workdir=tmp_path, http=True).start()
    answers: list[tuple[int, bytes]] = []
    document = {
        "inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["hello"]}],
        "parameters": {"entered": str(entered), "gate": str(gate)},
    }

    def infer() -> None:
        status, _, body = send(
            server, "POST", "/v2/models/drucker/infer", json.dumps(document).encode()
        )
        answers.append((status, body))

    worker = threading.Thread(target=infer)
    worker.start()
    wait_for(entered.exists, "the prediction to start")
    stopper = threading.Thread(target=server.stop)
    stopper.start()

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", server.http_port), timeout=1).close()
        except OSError:
            return True
        return False

    wait_for(refused, "the HTTP port to refuse new connections")
    gate.touch()
    worker.join(30)
    stopper.join(30)
    assert len(answers) == 1
    status, body = answers[0]
    assert status == 200
    assert json.loads(body)["outputs"][0]["data"] == ["hello"]


def test_kserve_rest_client_matches_the_drucker_protocol(server: ThreadedServer) -> None:
    """KServe's InferenceRESTClient, JSON and binary tensors, gets the Drucker answers."""
    answer = run_client("kserve_v2_rest", server.http_url, "iris", ROWS)
    assert_matches(answer, ("json", "binary"), drucker_answers(server))


def test_workers_share_the_http_port(tmp_path: Path, echo_model: Path) -> None:
    """With --workers 2 each worker serves V2 REST on the same port (SO_REUSEPORT)."""
    port, http_port = free_port(), free_port()
    args = ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)]
    server = ServeProcess(
        [*args, "--workers", "2"],
        cwd=tmp_path,
        env={"DRUCKER_HTTP_PORT": str(http_port)},
    )
    document = json.dumps(
        {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}
    ).encode()
    pids: set[int] = set()

    def both_answered() -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        try:
            connection.request("POST", "/v2/models/drucker/infer", body=document)
            response = connection.getresponse()
            if response.status == 200:
                pids.add(json.loads(response.read())["parameters"]["pid"])
        except OSError:
            pass  # not listening yet
        finally:
            connection.close()
        return len(pids) == 2

    try:
        server.wait_serving(port)
        wait_for(both_answered, "answers from both workers over HTTP")
    finally:
        assert server.terminate() == 0
