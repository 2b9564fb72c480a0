"""One server, several models: each answers under its name over Drucker 0.4.5, V2 gRPC and V2
REST; unknown names are NOT_FOUND; the repository extension indexes, unloads and loads them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import drucker
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.management import auth
from tests.polling import wait_for
from tests.serving import ThreadedServer

ECHO_PLUGIN = "tests.plugins.echo_plugin"
TOKEN = "many-models-token"
NAME_KEY = "x-rekcurd-application-name"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    workdir = tmp_path_factory.mktemp("many")
    files = {}
    for name in ("alpha", "beta"):
        path = workdir / f"{name}.model"
        path.write_text(f"model-{name}")
        files[name] = str(path)
    settings = {"management_token": TOKEN, "application_name": "app"}
    with ThreadedServer(
        ECHO_PLUGIN, None, settings, workdir=workdir, http=True, models=files
    ) as server:
        yield server


def predict_045(server: ThreadedServer, name: str | None) -> dict[str, Any]:
    """A Drucker 0.4.5 String→String call, naming the model like a 0.4.5 client does."""
    metadata = [(NAME_KEY, name)] if name is not None else []
    with server.channel() as channel:
        stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
        request = drucker_pb2.StringInput(input="hi", option=drucker_pb2.Option(val="{}"))
        answer = stub.Predict_String_String(request, metadata=metadata, timeout=10)
    assert answer.output == "hi"
    option: dict[str, Any] = json.loads(answer.option.val)
    return option


def infer_v2(server: ThreadedServer, name: str) -> str:
    """A V2 gRPC inference of model ``name``; the model's content it answered with."""
    request = pb.ModelInferRequest(model_name=name)
    tensor = request.inputs.add(name="input", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"hi")
    with server.channel() as channel:
        answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert answer.model_name == name
    return str(answer.parameters["model"].string_param)


def rest(server: ThreadedServer, path: str, body: Any, token: str | None = TOKEN) -> Any:
    """POST ``body`` as JSON; the status and the decoded answer."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        server.http_url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def repository(server: ThreadedServer) -> Any:
    return pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.target))


def test_each_model_answers_under_its_name_over_045(server: ThreadedServer) -> None:
    assert predict_045(server, "alpha")["model"] == "model-alpha"
    assert predict_045(server, "beta")["model"] == "model-beta"


def test_a_045_client_naming_no_model_gets_the_default_one(server: ThreadedServer) -> None:
    assert predict_045(server, None)["model"] == "model-alpha"


def test_an_unknown_name_over_045_is_not_found_naming_the_served_models(
    server: ThreadedServer,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        predict_045(server, "gamma")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert "'alpha'" in caught.value.details() and "'beta'" in caught.value.details()


def test_v2_grpc_routes_by_model_name(server: ThreadedServer) -> None:
    assert infer_v2(server, "alpha") == "model-alpha"
    assert infer_v2(server, "beta") == "model-beta"
    with pytest.raises(grpc.RpcError) as caught:
        infer_v2(server, "gamma")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert "'beta'" in caught.value.details()


def test_v2_rest_routes_by_model_name(server: ThreadedServer) -> None:
    body = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    for name in ("alpha", "beta"):
        status, answer = rest(server, f"/v2/models/{name}/infer", body)
        assert status == 200
        assert answer["model_name"] == name
        assert answer["parameters"]["model"] == f"model-{name}"
    status, answer = rest(server, "/v2/models/gamma/infer", body)
    assert status == 404
    assert "'alpha'" in answer["error"]


def test_management_rpcs_act_on_the_named_model(server: ThreadedServer) -> None:
    with server.channel() as channel:
        stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
        for name in ("alpha", "beta"):
            info = stub.ServiceInfo(
                drucker_pb2.ServiceInfoRequest(),
                metadata=[*auth(TOKEN), (NAME_KEY, name)],
                timeout=10,
            )
            assert info.application_name == name
            assert info.model_name == f"{name}.model"
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListModels(
                drucker_pb2.ListModelsRequest(),
                metadata=[*auth(TOKEN), (NAME_KEY, "gamma")],
                timeout=10,
            )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_the_repository_index_lists_the_served_models(server: ThreadedServer) -> None:
    index = repository(server).RepositoryIndex(
        pb.RepositoryIndexRequest(), metadata=auth(TOKEN), timeout=10
    )
    rows = {(m.name, m.version, m.state) for m in index.models}
    assert {("alpha", "alpha.model", "READY"), ("beta", "beta.model", "READY")} <= rows
    status, answer = rest(server, "/v2/repository/index", {"ready": True})
    assert status == 200
    assert {row["name"] for row in answer} == {"alpha", "beta"}


def test_the_repository_needs_the_management_token(server: ThreadedServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        repository(server).RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    status, _ = rest(server, "/v2/repository/index", {}, token=None)
    assert status == 401


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../etc", grpc.StatusCode.INVALID_ARGUMENT),
        ("nowhere", grpc.StatusCode.NOT_FOUND),
    ],
)
def test_loading_a_bad_or_unknown_name_is_refused(
    server: ThreadedServer, name: str, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        repository(server).RepositoryModelLoad(
            pb.RepositoryModelLoadRequest(model_name=name), metadata=auth(TOKEN), timeout=10
        )
    assert caught.value.code() is code
    assert predict_045(server, "beta")["model"] == "model-beta"  # the others serve on


def test_the_default_model_cannot_be_unloaded(server: ThreadedServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        repository(server).RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="alpha"), metadata=auth(TOKEN), timeout=10
        )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert predict_045(server, None)["model"] == "model-alpha"


def test_unload_then_load_while_serving(server: ThreadedServer) -> None:
    status, _ = rest(server, "/v2/repository/models/beta/unload", {})
    assert status == 200
    with pytest.raises(grpc.RpcError) as caught:
        infer_v2(server, "beta")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert predict_045(server, "alpha")["model"] == "model-alpha"
    status, answer = rest(server, "/v2/repository/models/beta/unload", {})
    assert status == 404
    assert "beta" in answer["error"]
    states = {m.name: m.state for m in _index(server)}
    assert states["beta"] in ("UNLOADING", "UNAVAILABLE")
    repository(server).RepositoryModelLoad(
        pb.RepositoryModelLoadRequest(model_name="beta"), metadata=auth(TOKEN), timeout=30
    )
    assert infer_v2(server, "beta") == "model-beta"
    assert predict_045(server, "beta")["model"] == "model-beta"
    wait_for(lambda: {m.name: m.state for m in _index(server)}["beta"] == "READY")


def test_loading_a_served_model_reloads_it_in_place(server: ThreadedServer) -> None:
    status, _ = rest(server, "/v2/repository/models/alpha/load", {})
    assert status == 200
    assert predict_045(server, None)["model"] == "model-alpha"


def _index(server: ThreadedServer) -> list[Any]:
    answer = repository(server).RepositoryIndex(
        pb.RepositoryIndexRequest(), metadata=auth(TOKEN), timeout=10
    )
    return list(answer.models)


def test_a_one_model_server_keeps_serving_under_app_name(tmp_path: Path) -> None:
    model = tmp_path / "only.model"
    model.write_text("model-only")
    with ThreadedServer(ECHO_PLUGIN, str(model), {"application_name": "solo"}) as server:
        assert predict_045(server, None)["model"] == "model-only"
        assert predict_045(server, "solo")["model"] == "model-only"  # one model: no routing
        assert infer_v2(server, "solo") == "model-only"


def test_tritonclient_drives_the_repository(server: ThreadedServer) -> None:
    triton = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed")
    client = triton.InferenceServerClient(url=server.target)
    headers = {"authorization": f"Bearer {TOKEN}"}
    try:
        index = client.get_model_repository_index(headers=headers)
        assert {m.name for m in index.models} >= {"alpha", "beta"}
        client.unload_model("beta", headers=headers)
        assert client.is_model_ready("alpha")  # the others keep answering
        with pytest.raises(triton.InferenceServerException):
            client.is_model_ready("beta")
        client.load_model("beta", headers=headers)
        assert client.is_model_ready("beta")
    finally:
        client.close()
    assert infer_v2(server, "beta") == "model-beta"


def test_the_sdk_names_its_model(server: ThreadedServer) -> None:
    from drucker.client import Client

    for name in ("alpha", "beta"):
        with Client(server.target, model=name, token=TOKEN) as client:
            assert client.predict("hi").option["model"] == f"model-{name}"
            assert client.service_info().application_name == name
    with Client(server.target) as client:  # no model: the default one
        assert client.predict("hi").option["model"] == "model-alpha"


def test_the_cli_acts_on_the_model_named_by_flag_or_environment(server: ThreadedServer) -> None:
    from click.testing import CliRunner

    from drucker.cli import main

    common = ["model", "list", "--target", server.target, "--token", TOKEN]
    flagged = CliRunner().invoke(main, [*common, "--model-name", "beta"])
    assert flagged.exit_code == 0, flagged.output
    assert "beta.model" in flagged.output and "alpha.model" not in flagged.output
    from_env = CliRunner().invoke(main, common, env={"DRUCKER_MODEL_NAME": "alpha"})
    assert from_env.exit_code == 0, from_env.output
    assert "alpha.model" in from_env.output and "beta.model" not in from_env.output
    unknown = CliRunner().invoke(main, [*common, "--model-name", "gamma"])
    assert unknown.exit_code != 0
    assert "NOT_FOUND" in unknown.output or "gamma" in unknown.output


GATE_PLUGIN = str(Path(__file__).resolve().parents[1] / "plugins" / "gate_plugin.py")


def test_a_request_in_flight_on_an_unloaded_model_finishes(tmp_path: Path) -> None:
    files = {}
    for name in ("a", "b"):
        (tmp_path / f"{name}.model").write_text(f"gate-{name}")
        files[name] = str(tmp_path / f"{name}.model")
    entered, gate = tmp_path / "entered", tmp_path / "gate"
    settings = {"management_auth": False, "grace_seconds": 30}
    answers: list[Any] = []
    with ThreadedServer(
        GATE_PLUGIN, None, settings, workdir=tmp_path, http=True, models=files
    ) as server:
        option = json.dumps({"entered": str(entered), "gate": str(gate)})

        def slow() -> None:
            with server.channel() as channel:
                stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
                request = drucker_pb2.StringInput(input="x", option=drucker_pb2.Option(val=option))
                answers.append(
                    stub.Predict_String_String(request, metadata=[(NAME_KEY, "b")], timeout=30)
                )

        worker = threading.Thread(target=slow)
        worker.start()
        wait_for(entered.exists, "the prediction on b to start")
        status, _ = rest(server, "/v2/repository/models/b/unload", {}, token=None)
        assert status == 200
        with pytest.raises(grpc.RpcError) as caught:
            predict_045(server, "b")
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        gate.touch()
        worker.join(30)
    assert len(answers) == 1
    assert json.loads(answers[0].option.val)["model"] == "gate-b"


def test_a_failed_load_leaves_the_model_unavailable_with_the_reason(
    server: ThreadedServer,
) -> None:
    broken = server.workdir / "model" / "delta"
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "notes.txt").write_text("no serving record and no app.modelfile here")
    with pytest.raises(grpc.RpcError) as caught:
        repository(server).RepositoryModelLoad(
            pb.RepositoryModelLoadRequest(model_name="delta"), metadata=auth(TOKEN), timeout=30
        )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    rows = {m.name: m for m in _index(server)}
    assert rows["delta"].state == "UNAVAILABLE"
    assert rows["delta"].reason == caught.value.details()
    assert predict_045(server, "alpha")["model"] == "model-alpha"
    assert infer_v2(server, "beta") == "model-beta"


def test_concurrent_loads_of_one_model_are_aborted_and_lose_nothing(tmp_path: Path) -> None:
    from tests.plugins.slow_loader import SlowLoader

    loader = SlowLoader()
    loader.release.set()
    files = {}
    for name in ("a", "b"):
        (tmp_path / f"{name}.model").write_text(name)
        files[name] = str(tmp_path / f"{name}.model")
    settings = {"management_auth": False}
    with ThreadedServer(loader, None, settings, workdir=tmp_path, models=files) as server:
        stub = repository(server)
        stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="b"), timeout=10)
        loader.release.clear()
        first = stub.RepositoryModelLoad.future(
            pb.RepositoryModelLoadRequest(model_name="b"), timeout=30
        )
        wait_for(lambda: {m.name: m.state for m in _index_open(server)}.get("b") == "LOADING")
        for call, request in (
            (stub.RepositoryModelLoad, pb.RepositoryModelLoadRequest(model_name="b")),
            (stub.RepositoryModelUnload, pb.RepositoryModelUnloadRequest(model_name="b")),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=10)
            assert caught.value.code() is grpc.StatusCode.ABORTED
        with server.channel() as channel:  # a serves on while b loads
            worker = drucker_pb2_grpc.DruckerWorkerStub(channel)
            answer = worker.Predict_String_String(
                drucker_pb2.StringInput(input="x"), metadata=[(NAME_KEY, "a")], timeout=10
            )
        assert answer.output == "a.model"
        loader.release.set()
        first.result(timeout=30)
        assert {m.name: m.state for m in _index_open(server)}["b"] == "READY"


def _index_open(server: ThreadedServer) -> list[Any]:
    return list(repository(server).RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10).models)


def test_drucker_serve_serves_each_named_model(tmp_path: Path) -> None:
    from tests.serving import ServeProcess, free_port

    for name in ("red", "blue"):
        (tmp_path / f"{name}.model").write_text(f"model-{name}")
    port = free_port()
    args = ["--plugin", ECHO_PLUGIN, "--port", str(port), "--host", "127.0.0.1"]
    args += ["--model", "red=red.model", "--model", "blue=blue.model"]
    server = ServeProcess(args, cwd=tmp_path)
    try:
        server.wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
            for name, expected in (("blue", "model-blue"), (None, "model-red")):
                metadata = [(NAME_KEY, name)] if name else []
                answer = stub.Predict_String_String(
                    drucker_pb2.StringInput(input="x"), metadata=metadata, timeout=10
                )
                assert json.loads(answer.option.val)["model"] == expected
    finally:
        assert server.terminate() == 0
    started = [json.loads(line) for line in server.stderr.splitlines() if "serving on" in line]
    assert started[0]["models"] == ["red", "blue"]
    assert started[0]["model_states"] == {"red": "red.model", "blue": "blue.model"}


@pytest.mark.parametrize("at_startup", [True, False])
def test_models_of_the_store_load_at_start_unless_told_not_to(
    tmp_path: Path, at_startup: bool
) -> None:
    store = tmp_path / "model"
    (store / "beta").mkdir(parents=True)
    (store / "beta" / "default.model").write_text("model-beta")
    (store / "broken").mkdir()
    (store / "broken" / "notes.txt").write_text("nothing to serve")
    (tmp_path / "alpha.model").write_text("model-alpha")
    settings = {
        "application_name": "alpha",
        "management_auth": False,
        "load_models_at_startup": at_startup,
    }
    alpha = str(tmp_path / "alpha.model")
    with ThreadedServer(ECHO_PLUGIN, alpha, settings, workdir=tmp_path) as server:
        states = {m.name: (m.state, m.reason) for m in _index_open(server)}
        assert states["alpha"][0] == "READY"
        assert states["broken"][0] == "UNAVAILABLE"
        if at_startup:
            assert states["beta"][0] == "READY"
            assert "does not exist" in states["broken"][1]
        else:
            assert states["beta"] == ("UNAVAILABLE", "not loaded")
            repository(server).RepositoryModelLoad(
                pb.RepositoryModelLoadRequest(model_name="beta"), timeout=30
            )
        assert predict_045(server, "beta")["model"] == "model-beta"
        assert predict_045(server, None)["model"] == "model-alpha"


def test_the_sdk_and_the_cli_drive_the_repository(server: ThreadedServer) -> None:
    from click.testing import CliRunner

    from drucker.cli import main
    from drucker.client import Client

    with Client(server.target, token=TOKEN) as client:
        states = {m.name: m.state for m in client.repository_index()}
        assert states["alpha"] == states["beta"] == "READY"
        assert {m.name for m in client.repository_index(ready=True)} == {"alpha", "beta"}
    common = ["--target", server.target, "--token", TOKEN]
    unloaded = CliRunner().invoke(main, ["repository", "unload", "beta", *common])
    assert unloaded.exit_code == 0, unloaded.output
    listed = CliRunner().invoke(main, ["repository", "index", "--json", *common])
    assert listed.exit_code == 0, listed.output
    assert {row["name"]: row["state"] for row in json.loads(listed.output)}["beta"] != "READY"
    loaded = CliRunner().invoke(main, ["repository", "load", "beta", *common])
    assert loaded.exit_code == 0, loaded.output
    assert infer_v2(server, "beta") == "model-beta"
    refused = CliRunner().invoke(main, ["repository", "load", "nowhere", *common])
    assert refused.exit_code != 0
    assert "nowhere" in refused.output


def test_the_models_section_serves_models_with_their_own_plugins(tmp_path: Path) -> None:
    (tmp_path / "e.model").write_text("model-e")
    (tmp_path / "g.model").write_text("model-g")
    models = [
        {"name": "e", "file": str(tmp_path / "e.model")},
        {"name": "g", "file": str(tmp_path / "g.model"), "plugin": GATE_PLUGIN},
    ]
    settings = {"models": models, "management_auth": False}
    with ThreadedServer(ECHO_PLUGIN, None, settings, workdir=tmp_path, http=True) as server:
        echoed, gated = predict_045(server, "e"), predict_045(server, "g")
        assert echoed["model"] == "model-e" and "pid" in echoed  # the echo plugin answers
        assert gated == {"model": "model-g"}  # the gate plugin answers
        assert predict_045(server, None)["model"] == "model-e"  # the first is the default
        assert {m.name: m.state for m in _index_open(server)} == {"e": "READY", "g": "READY"}


def test_a_bad_models_entry_names_the_fault(tmp_path: Path) -> None:
    from drucker.errors import ConfigurationError
    from drucker.settings import load_settings

    (tmp_path / "s.yml").write_text("models:\n  - name: ../up\n  - name: b\n    fil: x\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(tmp_path / "s.yml", environ={})
    assert "'../up' is not a plain model name" in str(caught.value)
    assert "extra fields found (fil)" in str(caught.value)


class _Weighed:
    """A model plugin whose loaded models can be watched for being freed."""

    class Model:
        def __init__(self, name: str) -> None:
            self.name = name
            self.weights = bytearray(8 << 20)  # 8 MiB, as a model's arrays would be

    def __init__(self) -> None:
        self.loaded: dict[str, Any] = {}

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> Any:
        model = self.Model(Path(model_path).read_text())
        self.loaded[model.name] = weakref.ref(model)
        return model

    @drucker.hookimpl
    def drucker_predict(self, model: Any) -> drucker.PredictResult:
        return drucker.PredictResult(label=model.name, score=1.0)


def test_an_unloaded_model_is_freed(tmp_path: Path) -> None:
    plugin = _Weighed()
    files = {}
    for name in ("a", "b"):
        (tmp_path / f"{name}.model").write_text(name)
        files[name] = str(tmp_path / f"{name}.model")
    settings = {"management_auth": False, "grace_seconds": 0}
    with ThreadedServer(plugin, None, settings, workdir=tmp_path, models=files) as server:
        with server.channel() as channel:
            worker = drucker_pb2_grpc.DruckerWorkerStub(channel)
            request = drucker_pb2.StringInput(input="x")
            answer = worker.Predict_String_String(request, metadata=[(NAME_KEY, "b")], timeout=10)
        assert answer.output == "b"
        del answer, request
        repository(server).RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="b"), timeout=10
        )
        wait_for(lambda: plugin.loaded["b"]() is None, "the unloaded model to be freed")
        assert plugin.loaded["a"]() is not None  # the other one is untouched


def test_workers_serve_every_named_model_and_refuse_repository_changes(tmp_path: Path) -> None:
    from tests.serving import ServeProcess, free_port

    for name in ("red", "blue"):
        (tmp_path / f"{name}.model").write_text(f"model-{name}")
    port = free_port()
    args = ["--plugin", ECHO_PLUGIN, "--port", str(port), "--host", "127.0.0.1", "--workers", "2"]
    args += ["--model", "red=red.model", "--model", "blue=blue.model"]
    server = ServeProcess(args, cwd=tmp_path, env={"DRUCKER_MANAGEMENT_AUTH": "false"})
    try:
        server.wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            worker = drucker_pb2_grpc.DruckerWorkerStub(channel)
            for _ in range(4):
                answer = worker.Predict_String_String(
                    drucker_pb2.StringInput(input="x"), metadata=[(NAME_KEY, "blue")], timeout=10
                )
                assert json.loads(answer.option.val)["model"] == "model-blue"
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.RepositoryModelUnload(
                    pb.RepositoryModelUnloadRequest(model_name="blue"), timeout=10
                )
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "one worker only" in caught.value.details()
    finally:
        assert server.terminate() == 0


def test_tritonclient_http_drives_the_repository(server: ThreadedServer) -> None:
    triton_http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] missing")
    client = triton_http.InferenceServerClient(url=server.http_url.removeprefix("http://"))
    headers = {"authorization": f"Bearer {TOKEN}"}
    try:
        index = client.get_model_repository_index(headers=headers)
        assert {row["name"] for row in index} >= {"alpha", "beta"}
        client.unload_model("beta", headers=headers)
        assert client.is_model_ready("alpha")
        client.load_model("beta", headers=headers)
        assert client.is_model_ready("beta")
    finally:
        client.close()


def test_drucker_model_list_shows_every_model_of_the_server(server: ThreadedServer) -> None:
    from click.testing import CliRunner

    from drucker.cli import main

    listed = CliRunner().invoke(
        main, ["model", "list", "--target", server.target, "--token", TOKEN]
    )
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == "MODEL\tSTATE\tVERSION\tREASON"
    rows = {line.split("\t")[0]: line.split("\t")[1:3] for line in lines[1 : lines.index("")]}
    assert rows["alpha"] == ["READY", "alpha.model"]
    assert rows["beta"] == ["READY", "beta.model"]
    # then the default model's stored versions, under their own header
    assert lines[lines.index("") + 1] == "  NAME\tBYTES\tSHA256\tUPLOADED (UTC)"
    assert "alpha.model" in "\n".join(lines[lines.index("") + 1 :])


def test_a_model_of_the_models_section_has_its_own_settings(tmp_path: Path) -> None:
    store = tmp_path / "model" / "q"
    store.mkdir(parents=True)
    (store / "own.model").write_text("model-q-own")  # its own app.modelfile in its store
    (tmp_path / "e.model").write_text("model-e")
    models = [
        {"name": "e", "file": str(tmp_path / "e.model")},
        {
            "name": "q",
            "settings": {
                "app.modelfile": "own.model",
                "log.predictions": False,
                "app.predict_threads": "0",  # converted as a file's value is
            },
        },
    ]
    settings = {"models": models, "management_auth": False}
    with ThreadedServer(ECHO_PLUGIN, None, settings, workdir=tmp_path) as server:
        assert predict_045(server, "q")["model"] == "model-q-own"
        with server.channel() as channel:
            stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
            for name, text in (("e", "loud-input"), ("q", "quiet-input")):
                stub.Predict_String_String(
                    drucker_pb2.StringInput(input=text), metadata=[(NAME_KEY, name)], timeout=10
                )
        logged = server.log.getvalue()
    assert "loud-input" in logged  # the server's log.predictions: on
    assert "quiet-input" not in logged  # q's own: off


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ("    settings: {batching.sizee: 4}\n", "model 'b': unknown key 'batching.sizee'"),
        ("    settings: {app.port: 6000}\n", "model 'b': unknown key 'app.port'"),
        (
            "    settings: {batching.max_size: many}\n",
            "model 'b': key 'batching.max_size': expected an integer, got 'many'",
        ),
        (
            "    settings: {batching.max_size: 0}\n",
            "model 'b': key 'batching.max_size': at least 1, got 0",
        ),
    ],
)
def test_a_bad_per_model_setting_names_the_model_the_key_and_the_file(
    tmp_path: Path, entry: str, fault: str
) -> None:
    from drucker.errors import ConfigurationError
    from drucker.settings import load_settings

    path = tmp_path / "s.yml"
    path.write_text("models:\n  - name: b\n" + entry)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path, environ={})
    assert f"{path}: key 'models'" in str(caught.value)
    assert fault in str(caught.value)
