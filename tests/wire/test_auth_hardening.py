"""Protection by a list of open rpcs (closed by default) and a token file that is never followed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.errors import ConfigurationError
from drucker.kinds import Kind
from drucker.protocol.auth import loopback_waived, protected_methods
from drucker.settings import load_settings
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.management import auth
from tests.serving import ThreadedServer

TOKEN = "t" * 40
RPCS = ("Index", "ModelLoad", "ModelUnload")


def _v2(channel: grpc.Channel, token: str | None) -> dict[str, grpc.StatusCode]:
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input", datatype="FP32", shape=[1, 2], contents={"fp32_contents": [1.0, 2.0]}
    )
    calls: dict[str, Any] = {
        "ModelInfer": lambda: stub.ModelInfer(
            pb.ModelInferRequest(model_name="drucker", inputs=[tensor]),
            metadata=auth(token),
            timeout=10,
        ),
        "ModelMetadata": lambda: stub.ModelMetadata(
            pb.ModelMetadataRequest(name="drucker"), metadata=auth(token), timeout=10
        ),
        "ServerLive": lambda: stub.ServerLive(pb.ServerLiveRequest(), timeout=10),
        "ModelReady": lambda: stub.ModelReady(
            pb.ModelReadyRequest(name="drucker"), metadata=auth(token), timeout=10
        ),
        "ModelReady(unknown)": lambda: stub.ModelReady(
            pb.ModelReadyRequest(name="no-such-model"), metadata=auth(token), timeout=10
        ),
    }
    codes = {}
    for name, action in calls.items():
        try:
            action()
            codes[name] = grpc.StatusCode.OK
        except grpc.RpcError as error:
            codes[name] = error.code()
    return codes


def test_protect_predictions_covers_v2_inference_and_metadata(
    tmp_path: Path, echo_model: Path
) -> None:
    settings = {"management_token": TOKEN, "protect_predictions": True}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            refused = _v2(channel, None)
            assert refused["ModelInfer"] is grpc.StatusCode.UNAUTHENTICATED
            assert refused["ModelMetadata"] is grpc.StatusCode.UNAUTHENTICATED
            assert refused["ServerLive"] is grpc.StatusCode.OK  # probes stay open
            # Which version serves, and which names exist, are not for anonymous callers.
            assert refused["ModelReady"] is grpc.StatusCode.UNAUTHENTICATED
            assert refused["ModelReady(unknown)"] is grpc.StatusCode.UNAUTHENTICATED
            answered = _v2(channel, TOKEN)
            assert answered.pop("ModelReady(unknown)") is grpc.StatusCode.NOT_FOUND
            assert set(answered.values()) == {grpc.StatusCode.OK}
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as caught:
                call(channel, Kind.STRING, Kind.STRING, "x")
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_predictions_are_open_by_default_and_management_is_not(
    tmp_path: Path, echo_model: Path
) -> None:
    settings = {"management_token": TOKEN}
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        with server.channel() as channel:
            codes = _v2(channel, None)
            assert codes.pop("ModelReady(unknown)") is grpc.StatusCode.NOT_FOUND
            assert set(codes.values()) == {grpc.StatusCode.OK}


def test_an_rpc_that_is_not_listed_as_open_needs_the_token() -> None:
    settings = load_settings(None, environ={})
    needs_token = protected_methods(settings)
    assert needs_token("/drucker.DruckerDashboard/SwitchModel")
    assert needs_token("/drucker.DruckerDashboard/SomeFutureRpc")
    assert needs_token("/inference.GRPCInferenceService/RepositoryModelLoad")
    assert needs_token("/a.future.Protocol/Predict")
    assert not needs_token("/drucker.DruckerWorker/Predict_String_String")
    assert not needs_token("/inference.GRPCInferenceService/ModelInfer")
    assert not needs_token("/grpc.health.v1.Health/Check")
    assert not needs_token("/inference.GRPCInferenceService/ServerReady")
    assert not needs_token("/inference.GRPCInferenceService/ModelReady")  # unless protected


def _start(tmp_path: Path, echo_model: Path) -> ThreadedServer:
    return ThreadedServer(ECHO_PLUGIN, str(echo_model), workdir=tmp_path).start()


def _token_path(tmp_path: Path) -> Path:
    path = tmp_path / "model" / "drucker" / ".management-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_token_file_that_is_a_symlink_stops_the_server(tmp_path: Path, echo_model: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not yours\n")
    _token_path(tmp_path).symlink_to(target)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        _start(tmp_path, echo_model)
    assert target.read_text() == "not yours\n"


def test_a_dangling_token_symlink_is_not_followed_to_create_a_file(
    tmp_path: Path, echo_model: Path
) -> None:
    target = tmp_path / "created-through-the-link"
    _token_path(tmp_path).symlink_to(target)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        _start(tmp_path, echo_model)
    assert not target.exists()


def test_a_token_path_that_is_not_a_regular_file_stops_the_server(
    tmp_path: Path, echo_model: Path
) -> None:
    _token_path(tmp_path).mkdir()
    with pytest.raises(ConfigurationError, match="not a regular file"):
        _start(tmp_path, echo_model)


def test_a_token_file_readable_by_others_stops_the_server(tmp_path: Path, echo_model: Path) -> None:
    path = _token_path(tmp_path)
    path.write_text("old-token\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="must be 0600"):
        _start(tmp_path, echo_model)
    assert path.read_text() == "old-token\n"  # neither replaced nor changed


def test_a_private_token_file_is_used_as_it_is(tmp_path: Path, echo_model: Path) -> None:
    path = _token_path(tmp_path)
    path.write_text("kept-token\n")
    os.chmod(path, 0o600)
    server = _start(tmp_path, echo_model)
    try:
        assert "management token read from" in server.log.getvalue()
    finally:
        server.stop()
    assert path.read_text() == "kept-token\n"


def test_the_loopback_waiver_is_off_by_default_and_covers_the_repository_rpcs_only() -> None:
    off = loopback_waived(load_settings(None, environ={}))
    environ = {"DRUCKER_MANAGEMENT_REPOSITORY_LOOPBACK_WITHOUT_TOKEN": "true"}
    on = loopback_waived(load_settings(None, environ=environ))
    repository = [f"/inference.GRPCInferenceService/Repository{rpc}" for rpc in RPCS]
    assert not any(off(method) for method in repository)
    assert all(on(method) for method in repository)
    for method in (
        "/drucker.DruckerDashboard/SwitchModel",
        "/drucker.DruckerDashboard/UploadModel",
        "/inference.GRPCInferenceService/ModelInfer",
        "/inference.GRPCInferenceService/RepositoryFuture",
    ):
        assert not on(method)
