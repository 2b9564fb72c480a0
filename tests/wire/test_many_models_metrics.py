"""The per-model series of a server with several models: each request, switch, model info and
admission figure is labelled with its model; an unloaded model's info and queue series go."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import grpc

import drucker
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.metrics_support import http_get, scrape, total, value
from tests.polling import wait_for
from tests.serving import ThreadedServer, free_port

ECHO_PLUGIN = "tests.plugins.echo_plugin"
NAME_KEY = "x-rekcurd-application-name"


def _predict(channel: grpc.Channel, name: str) -> None:
    stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
    request = drucker_pb2.StringInput(input="hi", option=drucker_pb2.Option(val="{}"))
    stub.Predict_String_String(request, metadata=[(NAME_KEY, name)], timeout=10)


def _infer(channel: grpc.Channel, name: str) -> None:
    request = pb.ModelInferRequest(model_name=name)
    tensor = request.inputs.add(name="input", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"hi")
    pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)


def _rest_infer(server: ThreadedServer, name: str) -> None:
    body = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    request = urllib.request.Request(
        f"{server.http_url}/v2/models/{name}/infer",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_every_per_model_series_names_its_model(tmp_path: Path) -> None:
    files = {}
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.model").write_text(f"model-{name}")
        files[name] = str(tmp_path / f"{name}.model")
    settings = {"metrics_port": free_port(), "management_auth": False, "grace_seconds": 0}
    with ThreadedServer(
        ECHO_PLUGIN, None, settings, workdir=tmp_path, http=True, models=files
    ) as server:
        port = server.settings.metrics_port
        with server.channel() as channel:
            for _ in range(3):
                _predict(channel, "alpha")
            _predict(channel, "beta")
            _infer(channel, "beta")
            _infer(channel, "beta")
        _rest_infer(server, "alpha")
        samples = scrape(port)
        requests = "drucker_requests_total"
        worker = {"protocol": "drucker", "rpc": "Predict_String_String", "code": "OK"}
        assert value(samples, requests, **worker, model="alpha") == 3
        assert value(samples, requests, **worker, model="beta") == 1
        v2 = {"protocol": "v2", "rpc": "ModelInfer", "code": "OK"}
        assert value(samples, requests, **v2, model="beta") == 2
        assert value(samples, requests, **v2, model="alpha") == 0
        rest = {"protocol": "rest", "rpc": "ModelInfer", "code": "OK"}
        assert value(samples, requests, **rest, model="alpha") == 1
        duration = "drucker_request_duration_seconds_count"
        assert value(samples, duration, protocol="drucker", rpc=worker["rpc"], model="beta") == 1
        # the standard gRPC series sum over the models
        handled = {"grpc_method": "Predict_String_String", "grpc_code": "OK"}
        assert total(samples, "grpc_server_handled_total", **handled) == 4
        for name in ("alpha", "beta"):
            info = {"model": name, "version": f"{name}.model"}
            assert total(samples, "drucker_model_info", **info) == 1
            assert value(samples, "drucker_queued_predictions", model=name) == 0
            assert value(samples, "drucker_queue_wait_seconds_count", model=name) >= 0
        assert ("drucker_queued_predictions", frozenset({("model", "beta")})) in samples

        with server.channel() as channel:
            pb_grpc.GRPCInferenceServiceStub(channel).RepositoryModelUnload(
                pb.RepositoryModelUnloadRequest(model_name="beta"), timeout=10
            )

        def beta_series_gone() -> bool:
            now = scrape(port)
            return total(now, "drucker_model_info", model="beta") == 0 and not any(
                name == "drucker_queued_predictions" and ("model", "beta") in labels
                for name, labels in now
            )

        wait_for(beta_series_gone, "the unloaded model's info and queue series to go")
        after = scrape(port)
        assert value(after, requests, **worker, model="beta") == 1  # counts keep counting
        assert total(after, "drucker_model_info", model="alpha") == 1
        status, _ = http_get(port, "/readyz")
        assert status == 200  # the other models serve: still ready


class _HeldStoreModel:
    """Loads every model at once except the store's ``held`` one, which waits for ``release``."""

    def __init__(self) -> None:
        self.loading_held = threading.Event()
        self.release = threading.Event()

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> str:
        if Path(model_path).parent.name == "held":
            self.loading_held.set()
            self.release.wait(30)
        return Path(model_path).name

    @drucker.hookimpl
    def drucker_predict(self, model: str) -> drucker.PredictResult:
        return drucker.PredictResult(label=model, score=1.0)


def test_readyz_waits_for_the_store_models_loading_at_start(tmp_path: Path) -> None:
    (tmp_path / "a.model").write_text("a")
    held = tmp_path / "model" / "held"
    held.mkdir(parents=True)
    (held / "default.model").write_text("held")  # a model of the store: loads at start
    plugin = _HeldStoreModel()
    port = free_port()
    settings = {"metrics_port": port, "management_auth": False}
    server = ThreadedServer(
        plugin, None, settings, workdir=tmp_path, models={"a": str(tmp_path / "a.model")}
    )
    server.start(wait=False)
    try:
        assert plugin.loading_held.wait(30)
        # a serves already; the store's held model, marked to load at start, does not yet
        assert http_get(port, "/readyz")[0] == 503
        plugin.release.set()
        server.wait_ready()
        wait_for(lambda: http_get(port, "/readyz")[0] == 200, "ready once held has loaded")
    finally:
        plugin.release.set()
        server.stop()
