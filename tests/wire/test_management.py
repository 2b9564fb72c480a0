"""Model management over real channels: uploads, switches, protection, restarts."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.management import (
    list_models,
    service_info,
    switch_model,
    upload_model,
)
from tests.serving import ThreadedServer

TOKEN = "test-token-123"


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def server(tmp_path: Path, echo_model: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(
        ECHO_PLUGIN, str(echo_model), {"management_token": TOKEN}, workdir=tmp_path
    ) as server:
        yield server


def serving_model(channel: grpc.Channel) -> str:
    answer = call(channel, Kind.STRING, Kind.STRING, "x")
    return str(json.loads(answer.option)["model"])


def test_upload_list_and_switch(server: ThreadedServer) -> None:
    with server.channel() as channel:
        data = b"echo-b\n"
        reply = upload_model(channel, "b.model", data, TOKEN)
        assert reply.status == 1, reply.message
        assert hashlib.sha256(data).hexdigest() in reply.message
        listed = list_models(channel, TOKEN)
        assert {m.name for m in listed.models} == {"b.model"}
        assert listed.serving == "echo-a.model"
        assert serving_model(channel) == "echo-a"
        reply = switch_model(channel, "b.model", TOKEN)
        assert reply.status == 1, reply.message
        assert serving_model(channel) == "echo-b"
        info = service_info(channel)
        assert info.model_name == "b.model"
        assert info.model_sha256 == hashlib.sha256(data).hexdigest()
        assert [m.name for m in list_models(channel, TOKEN).models if m.active] == ["b.model"]


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_management_needs_the_token(server: ThreadedServer, token: str | None) -> None:
    with server.channel() as channel:
        for attempt in (
            lambda: upload_model(channel, "c.model", b"echo-c", token),
            lambda: switch_model(channel, "echo-a.model", token),
            lambda: list_models(channel, token),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                attempt()
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        # Predictions and ServiceInfo stay open by default.
        assert serving_model(channel) == "echo-a"
        assert service_info(channel).application_name == "drucker"
    assert not (server.workdir / "model" / "drucker" / "c.model").exists()


def test_protected_predictions_and_service_info(tmp_path: Path, echo_model: Path) -> None:
    settings = {
        "management_token": TOKEN,
        "protect_predictions": True,
        "protect_service_info": True,
    }
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            with pytest.raises(grpc.RpcError) as caught:
                call(channel, Kind.STRING, Kind.STRING, "x")
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as caught:
                service_info(channel)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert service_info(channel, TOKEN).service_name == "default"


def test_generated_token_is_private_and_logged(tmp_path: Path, echo_model: Path) -> None:
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), workdir=tmp_path) as server:
        token_file = tmp_path / "model" / "drucker" / ".management-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        assert str(token_file) in server.log.getvalue()
        with server.channel() as channel:
            assert upload_model(channel, "x.model", b"echo-x", token).status == 1
            with pytest.raises(grpc.RpcError):
                upload_model(channel, "y.model", b"echo-y", None)


def test_auth_can_be_turned_off_with_a_warning(tmp_path: Path, echo_model: Path) -> None:
    settings = {"management_auth": False}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            assert upload_model(channel, "open.model", b"echo-open", None).status == 1
        records = [json.loads(line) for line in server.log.getvalue().splitlines()]
        assert any(r["level"] == 4 and "open to anyone" in r["short_message"] for r in records)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "", "x" * 300, "..", ".hidden"])
def test_unsafe_names_are_refused_and_create_nothing(server: ThreadedServer, name: str) -> None:
    before = files_under(server.workdir)
    parent_before = set(server.workdir.parent.iterdir())
    passwd = Path("/etc/passwd").read_bytes()
    with server.channel() as channel:
        reply = upload_model(channel, name, b"echo-evil", TOKEN)
    assert reply.status == 0
    assert "Error: Uploading model file." in reply.message
    assert files_under(server.workdir) == before
    assert set(server.workdir.parent.iterdir()) == parent_before
    assert Path("/etc/passwd").read_bytes() == passwd


def test_too_large_upload_leaves_nothing(tmp_path: Path, echo_model: Path) -> None:
    settings = {"management_token": TOKEN, "max_upload_bytes": 1000}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        before = files_under(tmp_path)
        with server.channel() as channel:
            reply = upload_model(channel, "big.model", b"x" * 5000, TOKEN)
            assert reply.status == 0 and "maximum size of 1000 bytes" in reply.message
            assert list_models(channel, TOKEN).models == []
        assert files_under(tmp_path) == before


def test_sha256_is_verified(server: ThreadedServer) -> None:
    data = b"echo-sha\n"
    with server.channel() as channel:
        reply = upload_model(channel, "s.model", data, TOKEN, sha256="0" * 64)
        assert reply.status == 0 and "sha256 mismatch" in reply.message
        assert not (server.workdir / "model" / "drucker" / "s.model").exists()
        reply = upload_model(channel, "s.model", data, TOKEN, hashlib.sha256(data).hexdigest())
        assert reply.status == 1


def test_cut_off_upload_leaves_nothing(server: ThreadedServer) -> None:
    from drucker._wire import drucker_pb2, drucker_pb2_grpc

    sent = threading.Event()

    def requests() -> Iterator[drucker_pb2.UploadModelRequest]:
        yield drucker_pb2.UploadModelRequest(path="cut.model", data=b"a" * 100_000)
        sent.set()
        threading.Event().wait(30)  # never finishes: the client cancels

    store = server.workdir / "model" / "drucker"
    before = files_under(store)
    with server.channel() as channel:
        stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
        future = stub.UploadModel.future(
            requests(), metadata=[("authorization", f"Bearer {TOKEN}")]
        )
        assert sent.wait(10)
        threading.Event().wait(0.3)
        assert any(p.name.startswith(".upload-") for p in store.iterdir())
        future.cancel()
        for _ in range(100):
            if not any(p.name.startswith(".upload-") for p in store.iterdir()):
                break
            threading.Event().wait(0.05)
    assert files_under(store) == before


def test_replacing_the_serving_model_is_refused(server: ThreadedServer) -> None:
    with server.channel() as channel:
        assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
        assert switch_model(channel, "b.model", TOKEN).status == 1
        reply = upload_model(channel, "b.model", b"echo-z", TOKEN)
        assert reply.status == 0 and "serving model" in reply.message
        assert serving_model(channel) == "echo-b"


def test_failed_switch_keeps_the_old_model_serving(tmp_path: Path, iris_model: Path) -> None:
    settings = {"management_token": TOKEN}
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            assert upload_model(channel, "broken.joblib", b"not a model", TOKEN).status == 1
            reply = switch_model(channel, "broken.joblib", TOKEN)
            assert reply.status == 0 and "failed to load" in reply.message
            reply = switch_model(channel, "absent.joblib", TOKEN)
            assert reply.status == 0 and "no model named 'absent.joblib'" in reply.message
            answer = call(channel, Kind.ARR_FLOAT, Kind.STRING, [5.1, 3.5, 1.4, 0.2])
            assert answer.label == "setosa"
            assert service_info(channel).model_name == "iris.joblib"


def test_smoke_prediction_guards_a_switch(tmp_path: Path, iris_model: Path) -> None:
    settings = {"management_token": TOKEN, "smoke_input": "[5.1, 3.5, 1.4, 0.2]"}
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        import joblib
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        iris = load_iris()
        two_features = LogisticRegression(max_iter=500).fit(iris.data[:, :2], iris.target)
        path = tmp_path / "two.joblib"
        joblib.dump(two_features, path)
        with server.channel() as channel:
            assert upload_model(channel, "two.joblib", path.read_bytes(), TOKEN).status == 1
            reply = switch_model(channel, "two.joblib", TOKEN)
            assert reply.status == 0 and "smoke prediction" in reply.message
            assert upload_model(channel, "same.joblib", iris_model.read_bytes(), TOKEN).status == 1
            assert switch_model(channel, "same.joblib", TOKEN).status == 1


def test_restart_serves_the_last_switched_model(tmp_path: Path, echo_model: Path) -> None:
    settings = {"management_token": TOKEN}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
            assert switch_model(channel, "b.model", TOKEN).status == 1
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            assert serving_model(channel) == "echo-b"
        assert "loaded model b.model (the last model switched to" in server.log.getvalue()


def test_switching_under_load_fails_no_request(tmp_path: Path, echo_model: Path) -> None:
    settings = {"management_token": TOKEN, "log_predictions": False}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        answers: Counter[str] = Counter()
        failures: list[BaseException] = []
        stop = threading.Event()

        def load() -> None:
            with server.channel() as channel:
                while not stop.is_set():
                    try:
                        answers[serving_model(channel)] += 1
                    except grpc.RpcError as error:
                        failures.append(error)

        with server.channel() as channel:
            assert upload_model(channel, "a.model", b"echo-a", TOKEN).status == 1
            assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
            workers = [threading.Thread(target=load) for _ in range(4)]
            for worker in workers:
                worker.start()
            try:
                for switch in range(24):
                    name = "b.model" if switch % 2 == 0 else "a.model"
                    assert switch_model(channel, name, TOKEN).status == 1
            finally:
                stop.set()
                for worker in workers:
                    worker.join(30)
    assert failures == []
    assert set(answers) == {"echo-a", "echo-b"}
    assert sum(answers.values()) > 100


def test_store_index_survives_and_is_consistent(server: ThreadedServer) -> None:
    with server.channel() as channel:
        assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
    index = json.loads((server.workdir / "model" / "drucker" / ".index.json").read_text())
    assert index["files"]["b.model"]["sha256"] == hashlib.sha256(b"echo-b").hexdigest()
    assert index["files"]["b.model"]["size"] == 6
    assert os.path.getsize(server.workdir / "model" / "drucker" / "b.model") == 6
