"""tritonclient (gRPC and HTTP) against a real server of three models and two plugins (two
echo models and a scikit-learn iris model): the index, an inference of each, an unload of one
while the others answer under load without a failed request, and loading it back. Then a
Drucker 0.4.5 client (its published protocol) selecting a model by application name, and one
naming none."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.compat.drucker045 import load_drucker045
from tests.polling import wait_for
from tests.serving import ThreadedServer

triton_grpc = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] missing")
triton_http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] missing")

ECHO_PLUGIN = "tests.plugins.echo_plugin"
TOKEN = "triton-many-token"
HEADERS = {"authorization": f"Bearer {TOKEN}"}
IRIS_ROW = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[ThreadedServer]:
    workdir = tmp_path_factory.mktemp("triton-many")
    models: list[dict[str, Any]] = []
    for name in ("alpha", "beta"):
        (workdir / f"{name}.model").write_text(f"model-{name}")
        models.append({"name": name, "file": str(workdir / f"{name}.model")})
    models.append({"name": "iris", "file": str(iris_model), "plugin": "drucker_sklearn"})
    settings = {"models": models, "management_token": TOKEN, "grace_seconds": 0.5}
    with ThreadedServer(ECHO_PLUGIN, None, settings, workdir=workdir, http=True) as server:
        yield server


def infer(module: Any, client: Any, name: str) -> Any:
    """One inference of model ``name`` through a tritonclient module's client: its labels."""
    if name == "iris":
        tensor = module.InferInput("input", list(IRIS_ROW.shape), "FP32")
        tensor.set_data_from_numpy(IRIS_ROW)
    else:
        tensor = module.InferInput("input", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([b"hi"], dtype=object))
    result = client.infer(name, [tensor])
    return result.as_numpy("label")


def clients(server: ThreadedServer) -> tuple[Any, Any]:
    host = server.http_url.removeprefix("http://")
    return (
        triton_grpc.InferenceServerClient(url=server.target),
        triton_http.InferenceServerClient(url=host),
    )


def test_index_and_an_inference_of_each_model_over_grpc_and_http(server: ThreadedServer) -> None:
    grpc_client, http_client = clients(server)
    try:
        index = grpc_client.get_model_repository_index(headers=HEADERS)
        assert {(m.name, m.state) for m in index.models} == {
            ("alpha", "READY"),
            ("beta", "READY"),
            ("iris", "READY"),
        }
        rows = http_client.get_model_repository_index(headers=HEADERS)
        assert {row["name"]: row["version"] for row in rows} == {
            "alpha": "alpha.model",
            "beta": "beta.model",
            "iris": "iris.joblib",
        }
        for module, client in ((triton_grpc, grpc_client), (triton_http, http_client)):
            for name in ("alpha", "beta"):
                assert infer(module, client, name).tolist() == [b"hi"]
            assert infer(module, client, "iris").tolist() == [b"setosa"]
    finally:
        grpc_client.close()
        http_client.close()


def test_unloading_one_model_under_load_fails_no_request_of_the_others(
    server: ThreadedServer,
) -> None:
    answered: Counter[str] = Counter()
    failures: list[BaseException] = []
    stop = threading.Event()

    def load(module: Any, make: Callable[[], Any], name: str) -> None:
        client = make()
        try:
            while not stop.is_set():
                try:
                    infer(module, client, name)
                    answered[name] += 1
                except Exception as error:  # every failure is a failed request
                    failures.append(error)
        finally:
            client.close()

    host = server.http_url.removeprefix("http://")
    makers = {
        triton_grpc: lambda: triton_grpc.InferenceServerClient(url=server.target),
        triton_http: lambda: triton_http.InferenceServerClient(url=host),
    }
    threads = [
        threading.Thread(target=load, args=(module, make, name))
        for module, make in makers.items()
        for name in ("alpha", "iris")
    ]
    grpc_client, http_client = clients(server)
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: min(answered["alpha"], answered["iris"]) >= 20, "load on the others")
        grpc_client.unload_model("beta", headers=HEADERS)
        with pytest.raises(triton_grpc.InferenceServerException) as caught:
            infer(triton_grpc, grpc_client, "beta")
        assert "beta" in str(caught.value)
        with pytest.raises(triton_http.InferenceServerException):
            infer(triton_http, http_client, "beta")
        before = answered.copy()
        wait_for(lambda: answered["alpha"] > before["alpha"] + 20, "alpha to answer on")
        http_client.load_model("beta", headers=HEADERS)
        assert infer(triton_grpc, grpc_client, "beta").tolist() == [b"hi"]
        assert grpc_client.is_model_ready("beta")
        wait_for(lambda: answered["iris"] > before["iris"] + 20, "iris to answer on")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        grpc_client.close()
        http_client.close()
    assert failures == []
    assert answered["alpha"] > 40 and answered["iris"] > 40


def test_a_045_client_selects_a_model_by_application_name(server: ThreadedServer) -> None:
    old = load_drucker045()
    request = old.messages["StringInput"](input="hi")
    with server.channel() as channel:
        predict = old.method(channel, "DruckerWorker", "Predict_String_String")
        named = predict(request, metadata=[("x-rekcurd-application-name", "beta")], timeout=10)
        unnamed = predict(request, timeout=10)
        iris_request = old.messages["ArrFloatInput"](input=IRIS_ROW[0].tolist())
        iris = old.method(channel, "DruckerWorker", "Predict_ArrFloat_String")(
            iris_request, metadata=[("x-rekcurd-application-name", "iris")], timeout=10
        )
    assert named.output == "hi" and '"model": "model-beta"' in named.option.val
    assert '"model": "model-alpha"' in unnamed.option.val  # naming none: the default model
    assert iris.output == "setosa"
