"""Metrics and HTTP probes of a real server, read over HTTP after known traffic."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.errors import ConfigurationError
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.management import list_models, switch_model, upload_model
from tests.metrics_support import http_get, scrape, total, value
from tests.polling import wait_for
from tests.serving import ThreadedServer, free_port

TOKEN = "metrics-token"


@pytest.fixture
def server(tmp_path: Path, echo_model: Path) -> Iterator[ThreadedServer]:
    settings = {"metrics_port": free_port(), "management_token": TOKEN}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        yield server


def metrics_port(server: ThreadedServer) -> int:
    return server.settings.metrics_port


def infer(channel: grpc.Channel, model: str = "drucker") -> None:
    request = pb.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="input", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"hello")
    pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)


def test_every_rpc_is_counted_by_protocol_rpc_and_code(server: ThreadedServer) -> None:
    with server.channel() as channel:
        for _ in range(5):
            call(channel, Kind.STRING, Kind.STRING, "x")
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as refused:
                call(channel, Kind.STRING, Kind.STRING, "x", json.dumps({"raise": "value"}))
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        call(channel, Kind.STRING, Kind.BYTES, "streamed out")
        call(channel, Kind.BYTES, Kind.BYTES, b"", chunks=[b"in ", b"chunks"])
        for _ in range(3):
            infer(channel)
        with pytest.raises(grpc.RpcError) as unknown:
            infer(channel, model="nope")
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as unauthenticated:
            list_models(channel, None)
        assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED
        list_models(channel, TOKEN)
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)

    samples = scrape(metrics_port(server))
    requests = "drucker_requests_total"
    worker = {"protocol": "drucker", "model": "drucker"}  # the model named after app.name
    assert value(samples, requests, **worker, rpc="Predict_String_String", code="OK") == 5
    assert (
        value(samples, requests, **worker, rpc="Predict_String_String", code="INVALID_ARGUMENT")
        == 2
    )
    assert value(samples, requests, **worker, rpc="Predict_String_Bytes", code="OK") == 1
    assert value(samples, requests, **worker, rpc="Predict_Bytes_Bytes", code="OK") == 1
    v2 = {"protocol": "v2", "rpc": "ModelInfer"}
    assert value(samples, requests, **v2, model="drucker", code="OK") == 3
    # a request for a model that is not served counts under no model
    assert value(samples, requests, **v2, model="", code="NOT_FOUND") == 1
    assert total(samples, requests) == 13  # management and health are not predictions
    duration = "drucker_request_duration_seconds_count"
    assert value(samples, duration, **worker, rpc="Predict_String_String") == 7
    assert total(samples, duration, protocol="v2", rpc="ModelInfer") == 4
    assert value(samples, "drucker_inflight_requests", protocol="drucker") == 0

    # The standard gRPC series cover every rpc, management and health included.
    handled = "grpc_server_handled_total"
    dashboard = {"grpc_service": "drucker.DruckerDashboard", "grpc_method": "ListModels"}
    assert value(samples, handled, **dashboard, grpc_type="unary", grpc_code="OK") == 1
    assert value(samples, handled, **dashboard, grpc_type="unary", grpc_code="UNAUTHENTICATED") == 1
    assert total(samples, handled, grpc_service="grpc.health.v1.Health", grpc_code="OK") == 1
    bidi = {"grpc_service": "drucker.DruckerWorker", "grpc_method": "Predict_Bytes_Bytes"}
    assert value(samples, handled, **bidi, grpc_type="bidi_stream", grpc_code="OK") == 1
    assert total(samples, "grpc_server_started_total") == total(samples, handled) == 16
    assert total(samples, "grpc_server_handling_seconds_count") == 16
    assert value(samples, "process_cpu_seconds_total") > 0


def test_batches_are_measured_where_the_batcher_forms_them(tmp_path: Path) -> None:
    from drucker_sklearn.demo import train_iris

    model = train_iris(tmp_path / "iris.joblib")
    settings = {"metrics_port": free_port(), "predict_threads": 0}
    sent = 48
    with ThreadedServer("drucker_sklearn", str(model), settings, workdir=tmp_path) as server:
        with server.channel() as channel, ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(
                    lambda _: call(channel, Kind.ARR_FLOAT, Kind.STRING, [5.1, 3.5, 1.4, 0.2]),
                    range(sent),
                )
            )
        assert {answer.label for answer in answers} == {"setosa"}
        samples = scrape(server.settings.metrics_port)
    assert value(samples, "drucker_batch_size_sum") == sent
    assert 1 <= value(samples, "drucker_batch_size_count") <= sent


def test_a_switch_changes_the_model_info(server: ThreadedServer, echo_model: Path) -> None:
    port = metrics_port(server)
    before = scrape(port)
    first = hashlib.sha256(echo_model.read_bytes()).hexdigest()
    model = {"model": "drucker"}
    assert value(before, "drucker_model_info", **model, version=echo_model.name, sha256=first) == 1
    data = b"echo-b\n"
    with server.channel() as channel:
        assert upload_model(channel, "b.model", data, TOKEN).status == 1
        assert switch_model(channel, "b.model", TOKEN).status == 1
        after = scrape(port)
        assert switch_model(channel, "missing.model", TOKEN).status == 0
        after_failure = scrape(port)
    sha256 = hashlib.sha256(data).hexdigest()
    for samples in (after, after_failure):
        assert value(samples, "drucker_model_info", **model, version="b.model", sha256=sha256) == 1
        old = {"version": echo_model.name, "sha256": first}
        assert value(samples, "drucker_model_info", **model, **old) == 0
        assert value(samples, "drucker_model_switches_total", **model, result="ok") == 1
    assert value(after, "drucker_model_switches_total", **model, result="failed") == 0
    assert value(after_failure, "drucker_model_switches_total", **model, result="failed") == 1


def test_probes_answer_ready_until_the_server_drains(server: ThreadedServer) -> None:
    port = metrics_port(server)
    assert http_get(port, "/livez") == (200, "live\n")
    assert http_get(port, "/readyz") == (200, "ready\n")
    assert http_get(port, "/nothing")[0] == 404

    # A slow request keeps the server draining after the stop: /readyz says 503 meanwhile.
    slow_answer: list[str] = []
    with server.channel() as channel:
        started = threading.Event()

        def slow() -> None:
            started.set()
            answer = call(channel, Kind.STRING, Kind.STRING, "slow", json.dumps({"sleep": 3}))
            slow_answer.append(answer.label)

        request = threading.Thread(target=slow)
        request.start()
        started.wait(5)
        wait_for(lambda: scrape(port).get(_inflight_key(), 0) == 1, "one request in flight", 10)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        wait_for(lambda: http_get(port, "/readyz")[0] == 503, "readyz 503", 10)
        assert http_get(port, "/livez")[0] == 200
        request.join(30)
        stopping.join(30)
    assert slow_answer == ["slow"]


def test_a_taken_metrics_port_is_a_clear_start_up_error(tmp_path: Path, echo_model: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ThreadedServer(ECHO_PLUGIN, str(echo_model), {"metrics_port": port})
        with pytest.raises(ConfigurationError, match=f"metrics port: cannot listen on .*:{port}"):
            server.start()
        server.stop()


def _inflight_key() -> tuple[str, frozenset[tuple[str, str]]]:
    return ("drucker_inflight_requests", frozenset({("protocol", "drucker")}))
