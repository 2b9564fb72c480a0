"""Bad input to a server of several models: each gets an exact status (never UNKNOWN), loses
nothing and leaves the other models serving. Names that are not plain names on every surface,
a load of a model the store does not hold, an unload of the default model while /readyz
depends on it, and loads, unloads and switches of one model racing each other."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.client import Client
from drucker.client.errors import ClientError
from tests.metrics_support import http_get
from tests.polling import wait_for
from tests.serving import ThreadedServer, free_port

ECHO_PLUGIN = "tests.plugins.echo_plugin"
NAME_KEY = "x-rekcurd-application-name"
TOKEN = "bad-input-token"
AUTH = [("authorization", f"Bearer {TOKEN}")]
NOT_PLAIN = ["../alpha", "a/b", "a\\b", ".hidden", "x" * 300, "", "bad\nname"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    files = {}
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.model").write_text(f"model-{name}")
        files[name] = str(tmp_path / f"{name}.model")
    settings = {"management_token": TOKEN, "metrics_port": free_port(), "grace_seconds": 0}
    with ThreadedServer(
        ECHO_PLUGIN, None, settings, workdir=tmp_path, http=True, models=files
    ) as server:
        yield server


def predict(server: ThreadedServer, name: str | None) -> str:
    metadata = [(NAME_KEY, name)] if name is not None else []
    with server.channel() as channel:
        answer = drucker_pb2_grpc.DruckerWorkerStub(channel).Predict_String_String(
            drucker_pb2.StringInput(input="x"), metadata=metadata, timeout=10
        )
    return str(json.loads(answer.option.val)["model"])


def code_of(call: Any, request: Any, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    try:
        call(request, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def rest(server: ThreadedServer, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.http_url + path,
        data=json.dumps(body or {}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def both_serve(server: ThreadedServer) -> None:
    assert predict(server, "alpha") == "model-alpha"
    assert predict(server, "beta") == "model-beta"


def test_names_that_are_not_plain_are_refused_exactly_everywhere(server: ThreadedServer) -> None:
    with server.channel() as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        worker = drucker_pb2_grpc.DruckerWorkerStub(channel)
        for name in NOT_PLAIN:
            load = pb.RepositoryModelLoadRequest(model_name=name)
            unload = pb.RepositoryModelUnloadRequest(model_name=name)
            assert code_of(stub.RepositoryModelLoad, load, AUTH) is grpc.StatusCode.INVALID_ARGUMENT
            assert (
                code_of(stub.RepositoryModelUnload, unload, AUTH)
                is grpc.StatusCode.INVALID_ARGUMENT
            )
            infer = pb.ModelInferRequest(model_name=name)
            tensor = infer.inputs.add(name="input", datatype="BYTES", shape=[1])
            tensor.contents.bytes_contents.append(b"x")
            assert code_of(stub.ModelInfer, infer, []) is grpc.StatusCode.NOT_FOUND
            ready = pb.ModelReadyRequest(name=name)
            assert code_of(stub.ModelReady, ready, []) is grpc.StatusCode.NOT_FOUND
            # over 0.4.5 ("" names no model: the default answers; a newline is no metadata)
            if name and "\n" not in name:
                named = [(NAME_KEY, name)]
                predict_call = worker.Predict_String_String
                refused = code_of(predict_call, drucker_pb2.StringInput(input="x"), named)
                assert refused is grpc.StatusCode.NOT_FOUND
    for name in NOT_PLAIN:
        if not name:
            continue
        quoted = urllib.parse.quote(name, safe="")
        for action in ("load", "unload"):
            status, answer = rest(server, f"/v2/repository/models/{quoted}/{action}")
            assert status in (400, 404), (name, action, status)
            assert answer["error"]
    both_serve(server)
    assert {row.name for row in _index(server)} == {"alpha", "beta"}  # nothing was added


def test_a_load_of_a_model_the_store_does_not_hold_is_not_found(server: ThreadedServer) -> None:
    with server.channel() as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.RepositoryModelLoadRequest(model_name="nowhere")
        with pytest.raises(grpc.RpcError) as caught:
            stub.RepositoryModelLoad(request, metadata=AUTH, timeout=10)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert "nowhere" in caught.value.details()
    status, answer = rest(server, "/v2/repository/models/nowhere/load")
    assert status == 404 and "nowhere" in answer["error"]
    assert "nowhere" not in {row.name for row in _index(server)}  # no UNAVAILABLE ghost
    both_serve(server)


def test_unloading_the_model_readyz_depends_on_is_refused(server: ThreadedServer) -> None:
    port = server.settings.metrics_port
    assert http_get(port, "/readyz")[0] == 200
    # beta may go: readiness no longer counts it, alpha serves on
    with server.channel() as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        stub.RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="beta"), metadata=AUTH, timeout=10
        )
        assert http_get(port, "/readyz")[0] == 200
        # alpha, the last of the models marked to load at start (and the default), may not
        with pytest.raises(grpc.RpcError) as caught:
            stub.RepositoryModelUnload(
                pb.RepositoryModelUnloadRequest(model_name="alpha"), metadata=AUTH, timeout=10
            )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "default model" in caught.value.details()
    status, answer = rest(server, "/v2/repository/models/alpha/unload")
    assert status == 400 and "default model" in answer["error"]
    assert http_get(port, "/readyz")[0] == 200
    assert predict(server, "alpha") == predict(server, None) == "model-alpha"


def test_racing_loads_unloads_and_switches_of_one_model_get_exact_codes(
    server: ThreadedServer, tmp_path: Path
) -> None:
    versions = []
    with Client(server.target, token=TOKEN, model="beta") as beta:
        for index in range(3):
            path = tmp_path / f"beta-{index}.model"
            path.write_text(f"model-beta-{index}")
            beta.upload_model(path, path.name)
            versions.append(path.name)
    codes: Counter[str] = Counter()
    other_failures: list[BaseException] = []
    stop = threading.Event()

    def record(action: Any) -> None:
        try:
            action()
            codes["OK"] += 1
        except ClientError as error:
            codes[error.code.name if error.code else "REFUSED"] += 1

    def changes(turn: int) -> None:
        with Client(server.target, token=TOKEN, model="beta", max_attempts=1) as client:
            for step in range(12):
                kind = (turn + step) % 3
                if kind == 0:
                    record(lambda: client.load_model("beta"))
                elif kind == 1:
                    record(lambda: client.unload_model("beta"))
                else:
                    version = versions[step % len(versions)]
                    record(lambda: client.switch_model(version))  # noqa: B023 (called at once)

    def alpha_load() -> None:
        with Client(server.target, model="alpha", max_attempts=1) as client:
            while not stop.is_set():
                try:
                    assert client.predict("x").option["model"] == "model-alpha"
                except Exception as error:  # every failure of alpha is a lost request
                    other_failures.append(error)

    watcher = threading.Thread(target=alpha_load)
    watcher.start()
    threads = [threading.Thread(target=changes, args=(turn,)) for turn in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        watcher.join()
    assert other_failures == []
    # each change either happened or was refused with its exact reason
    assert set(codes) <= {"OK", "ABORTED", "NOT_FOUND", "FAILED_PRECONDITION"}, codes
    assert codes["OK"] > 0
    # nothing was lost: beta loads again, with every uploaded version still in its store
    with Client(server.target, token=TOKEN, model="beta") as beta:
        wait_for(lambda: _can_load(beta), "beta to load after the race")
        stored, _ = beta.list_models()
        assert set(versions) <= {model.name for model in stored}
        assert predict(server, "beta") in {"model-beta", *(f"model-beta-{i}" for i in range(3))}
    assert predict(server, "alpha") == "model-alpha"


def _can_load(client: Client) -> bool:
    try:
        client.load_model("beta")
    except ClientError as error:
        if error.code is grpc.StatusCode.ABORTED:
            return False
        raise
    return True


def _index(server: ThreadedServer) -> list[Any]:
    with server.channel() as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        return list(stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=AUTH).models)
