"""V2 REST inference in the metrics port's series, beside the gRPC protocols (issue 27.7)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ECHO_PLUGIN
from tests.metrics_support import scrape, total, value
from tests.serving import ThreadedServer, free_port
from tests.wire.test_metrics import infer

REQUEST = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]}


@pytest.fixture
def server(tmp_path: Path, echo_model: Path) -> Iterator[ThreadedServer]:
    settings = {"metrics_port": free_port()}
    with ThreadedServer(
        ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path, http=True
    ) as server:
        yield server


def post(server: ThreadedServer, path: str, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        connection.request("POST", path, body=body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_rest_inference_is_counted_with_its_code_and_latency(server: ThreadedServer) -> None:
    body = json.dumps(REQUEST).encode()
    for _ in range(3):
        assert post(server, "/v2/models/drucker/infer", body) == 200
    assert post(server, "/v2/models/nope/infer", body) == 404
    assert post(server, "/v2/models/drucker/infer", b"{not json") == 400
    with server.channel() as channel:
        infer(channel)

    samples = scrape(server.settings.metrics_port)
    requests = "drucker_requests_total"
    rest = {"protocol": "rest", "rpc": "ModelInfer"}
    assert value(samples, requests, **rest, model="drucker", code="OK") == 3
    # refused before a model was found: counted under no model
    assert value(samples, requests, **rest, model="", code="NOT_FOUND") == 1
    assert value(samples, requests, **rest, model="", code="INVALID_ARGUMENT") == 1
    v2 = {"protocol": "v2", "rpc": "ModelInfer", "model": "drucker"}
    assert value(samples, requests, **v2, code="OK") == 1
    assert total(samples, "drucker_request_duration_seconds_count", **rest) == 5
    assert total(samples, "drucker_request_duration_seconds_bucket", **rest, le="+Inf") == 5
    assert value(samples, "drucker_request_duration_seconds_sum", **rest, model="drucker") > 0
    assert value(samples, "drucker_inflight_requests", protocol="rest") == 0
    # The standard gRPC series stay gRPC's: one ModelInfer over gRPC, none over HTTP.
    assert total(samples, "grpc_server_handled_total", grpc_method="ModelInfer") == 1
    assert total(samples, "grpc_server_started_total") == 1


def test_health_and_metadata_are_not_predictions(server: ThreadedServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        for path in ("/v2/health/ready", "/v2/models/drucker", "/v2"):
            connection.request("GET", path)
            connection.getresponse().read()
    finally:
        connection.close()
    assert total(scrape(server.settings.metrics_port), "drucker_requests_total") == 0
