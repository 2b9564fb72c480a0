"""Every protocol follows the traffic policy and says which version answered: the Drucker
rpcs (trailing metadata), V2 gRPC (``model_version`` and trailing metadata) and V2 REST
(``model_version`` and the ``x-drucker-version`` header); a V2 request naming a version
bypasses the split and is not shadowed."""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.client import Client
from tests.polling import wait_for
from tests.serving import ThreadedServer
from tests.traffic_support import predict_version, probe_server

LABELS = {"v1": "A", "v2": "B", "v3": "C"}


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[tuple[ThreadedServer, Client, str]]:
    with probe_server(tmp_path, http=True) as (server, client):
        client.set_split({"v1": 50, "v2": 50})
        yield server, client, client.service_info().application_name


def _v2_infer(channel: grpc.Channel, model: str, version: str = "") -> tuple[str, str]:
    """(model_version, x-drucker-version) of one V2 gRPC inference."""
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    tensor = request.inputs.add(name="input", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"x")
    reply, call = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer.with_call(
        request, timeout=10
    )
    return reply.model_version, dict(call.trailing_metadata() or ()).get("x-drucker-version", "")


def _rest_infer(
    server: ThreadedServer, model: str, key: str | None = None, version: str = ""
) -> tuple[dict[str, Any], str]:
    """(the answer, its x-drucker-version header) of one V2 REST inference."""
    body = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["x-drucker-route-key"] = key
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200, answer
        return answer, response.getheader("x-drucker-version") or ""
    finally:
        connection.close()


def test_the_drucker_rpcs_follow_the_split(probe: tuple[ThreadedServer, Client, str]) -> None:
    server, _, _ = probe
    with server.channel() as channel:
        answers = Counter(predict_version(channel, str(i)) for i in range(200))
    assert set(answers) == {("A", "v1"), ("B", "v2")}


def test_v2_grpc_follows_the_split_and_names_the_version(
    probe: tuple[ThreadedServer, Client, str],
) -> None:
    server, _, model = probe
    with server.channel() as channel:
        answers = Counter(_v2_infer(channel, model) for _ in range(200))
    assert set(answers) == {("v1", "v1"), ("v2", "v2")}


def test_v2_rest_follows_the_split_names_the_version_and_keeps_route_keys(
    probe: tuple[ThreadedServer, Client, str],
) -> None:
    server, _, model = probe
    seen: Counter[str] = Counter()
    for _ in range(200):
        answer, header = _rest_infer(server, model)
        assert header == answer["model_version"]
        label = next(o for o in answer["outputs"] if o["name"] == "label")["data"][0]
        assert label == LABELS[header]
        seen[header] += 1
    assert set(seen) == {"v1", "v2"}
    sticky = {_rest_infer(server, model, key="customer-42")[1] for _ in range(50)}
    assert len(sticky) == 1


def test_a_v2_request_naming_a_version_bypasses_the_split_and_is_not_shadowed(
    probe: tuple[ThreadedServer, Client, str],
) -> None:
    server, client, model = probe
    client.set_shadow("v3", 1.0)
    with server.channel() as channel:
        pinned = {_v2_infer(channel, model, version="v2") for _ in range(100)}
        rest = {_rest_infer(server, model, version="v2")[1] for _ in range(20)}
        assert pinned == {("v2", "v2")} and rest == {"v2"}
        assert client.traffic().shadow.total == 0
        predict_version(channel, "x")  # not named: shadowed
    wait_for(lambda: client.traffic().shadow.total == 1, "the one unnamed request shadowed")


def test_without_a_policy_the_serving_version_answers_as_before(
    probe: tuple[ThreadedServer, Client, str],
) -> None:
    server, client, model = probe
    client.clear_traffic()
    with server.channel() as channel:
        assert {_v2_infer(channel, model)[0] for _ in range(20)} == {"v1"}
        with pytest.raises(grpc.RpcError) as refused:
            _v2_infer(channel, model, version="v2")  # not loaded without a policy
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND
