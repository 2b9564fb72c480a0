"""Seldon Core 2's agent's calls replayed on loopback against a server set up as the Seldon
ServerConfig sets it up (an engine models directory, no loading at start, the repository rpcs
accepted without the token from loopback), and both sides of that token waiver."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.protocol.auth import loopback_peer
from tests.management import auth
from tests.polling import wait_for
from tests.seldon_agent import Agent, expected_predictions
from tests.serving import ThreadedServer

TOKEN = "s" * 40
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


def seldon_settings(models: Path, waiver: bool = True, **more: Any) -> dict[str, Any]:
    return {
        "application_name": "iris",
        "management_token": TOKEN,
        "repository_models_dir": str(models),
        "load_models_at_startup": False,
        "repository_loopback_without_token": waiver,
        **more,
    }


@pytest.fixture
def seldon(tmp_path: Path, iris_model: Path) -> Iterator[tuple[ThreadedServer, Path]]:
    models = tmp_path / "mnt-agent-models"
    models.mkdir()
    settings = seldon_settings(models)
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        yield server, models


def test_the_agents_calls_place_load_infer_and_unload_a_model_without_a_token(
    seldon: tuple[ThreadedServer, Path], iris_model: Path
) -> None:
    server, models = seldon
    with Agent(server.target, models) as agent:
        agent.wait_live()
        # At its start the agent unloads what is served: the bundled start model is not the
        # repository's, so there is nothing to unload (an error here would stop the agent).
        assert agent.unload_all() == []
        assert agent.index() == {}
        agent.place("iris", 1, iris_model)
        assert agent.index() == {"iris_1": "UNAVAILABLE"}  # there, not loaded: no load at start
        agent.load("iris_1")
        assert agent.index() == {"iris_1": "READY"}
        labels, scores = agent.infer("iris_1", ROWS)
        expected_labels, expected_scores = expected_predictions(iris_model, ROWS)
        assert labels == expected_labels
        assert scores == pytest.approx(expected_scores, abs=1e-6)
        agent.unload("iris_1")
        assert agent.index().get("iris_1") != "READY"
        with pytest.raises(grpc.RpcError) as caught:
            agent.infer("iris_1", ROWS)
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        # A restarted agent finds nothing left to unload.
        assert agent.unload_all() == []


def test_the_agent_unloads_what_it_finds_served_at_its_start(
    seldon: tuple[ThreadedServer, Path], iris_model: Path
) -> None:
    server, models = seldon
    with Agent(server.target, models) as agent:
        agent.place("iris", 3, iris_model)
        agent.load("iris_3")
        assert agent.unload_all() == ["iris_3"]
        assert agent.index().get("iris_3") != "READY"
        assert not (models / "iris_3").exists()


def test_an_unloaded_model_leaves_the_index_once_the_agent_removed_its_folder(
    tmp_path: Path, iris_model: Path
) -> None:
    models = tmp_path / "mnt-agent-models"
    models.mkdir()
    settings = seldon_settings(models, grace_seconds=0.2)
    with (
        ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server,
        Agent(server.target, models) as agent,
    ):
        agent.place("iris", 1, iris_model)
        agent.place("iris", 2, iris_model)
        agent.load("iris_1")
        agent.load("iris_2")
        agent.unload("iris_1")  # the agent removes the folder after the unload
        (models / "iris_2").rename(tmp_path / "kept")  # a folder gone with its model served
        wait_for(lambda: agent.index() == {"iris_2": "READY"}, "iris_1 to leave the index", 10)
        agent.unload("iris_2")
        wait_for(lambda: agent.index() == {}, "the index to empty", 10)


def test_a_model_the_directory_lacks_or_a_bad_model_settings_is_refused_with_the_reason(
    seldon: tuple[ThreadedServer, Path], iris_model: Path
) -> None:
    server, models = seldon
    with Agent(server.target, models) as agent:
        with pytest.raises(grpc.RpcError) as caught:
            agent.load("iris_9")
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        folder = agent.place("other", 2, iris_model)
        (folder / "model-settings.json").write_text('{"name": "someone_else"}')
        with pytest.raises(grpc.RpcError) as caught:
            agent.load("other_2")
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "names model 'someone_else', not 'other_2'" in (caught.value.details() or "")
        rows = agent.stub.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10).models
        (row,) = [row for row in rows if row.name == "other_2"]
        assert row.state == "UNAVAILABLE" and "someone_else" in row.reason


def test_the_bundled_start_model_serves_beside_the_repository_and_is_not_the_agents(
    seldon: tuple[ThreadedServer, Path],
) -> None:
    server, models = seldon
    with Agent(server.target, models) as agent:
        labels, _ = agent.infer("iris", ROWS)
        assert len(labels) == 2
        for call in (agent.load, agent.unload):
            with pytest.raises(grpc.RpcError) as caught:
                call("iris")
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_without_the_setting_the_agents_calls_need_the_token(
    tmp_path: Path, iris_model: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    settings = seldon_settings(models, waiver=False)
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        with Agent(server.target, models) as agent:
            agent.wait_live()  # the probes stay open
            with pytest.raises(grpc.RpcError) as caught:
                agent.index()
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            answer = agent.stub.RepositoryIndex(
                pb.RepositoryIndexRequest(), metadata=auth(TOKEN), timeout=10
            )
            assert list(answer.models) == []


def test_the_waiver_covers_the_grpc_repository_rpcs_only(tmp_path: Path, iris_model: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    settings = seldon_settings(models)
    with ThreadedServer(
        "drucker_sklearn", str(iris_model), settings, workdir=tmp_path, http=True
    ) as server:
        with server.channel() as channel:
            dashboard = drucker_pb2_grpc.DruckerDashboardStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                dashboard.SwitchModel(drucker_pb2.SwitchModelRequest(path="x"), timeout=10)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as caught:
                dashboard.ModelHistory(drucker_pb2.ModelHistoryRequest(), timeout=10)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        # Seldon's agent forwards any HTTP path from outside callers over loopback: REST's
        # repository endpoints keep needing the token.
        url = f"{server.http_url}/v2/repository/index"
        request = urllib.request.Request(url, data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        request.add_header("authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_a_caller_that_is_not_on_loopback_still_needs_the_token(
    tmp_path: Path, iris_model: Path
) -> None:
    address = _outside_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    models = tmp_path / "models"
    models.mkdir()
    settings = seldon_settings(models, host="0.0.0.0")
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        with grpc.insecure_channel(f"{address}:{server.port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            for call, request in (
                (stub.RepositoryIndex, pb.RepositoryIndexRequest()),
                (stub.RepositoryModelLoad, pb.RepositoryModelLoadRequest(model_name="iris_1")),
                (stub.RepositoryModelUnload, pb.RepositoryModelUnloadRequest(model_name="x")),
            ):
                with pytest.raises(grpc.RpcError) as caught:
                    call(request, timeout=10)
                assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            answer = stub.RepositoryIndex(
                pb.RepositoryIndexRequest(), metadata=auth(TOKEN), timeout=10
            )
            assert list(answer.models) == []
        with server.channel() as channel:  # the same server, from loopback: no token needed
            index = pb_grpc.GRPCInferenceServiceStub(channel).RepositoryIndex(
                pb.RepositoryIndexRequest(), timeout=10
            )
            assert list(index.models) == []


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        ("ipv4:127.0.0.1:5000", True),
        ("ipv4:127.8.9.10:1", True),
        ("ipv6:%5B::1%5D:45810", True),
        ("ipv6:[::1]:45810", True),
        ("ipv6:%5B::ffff:127.0.0.1%5D:5000", True),
        ("ipv4:10.0.0.7:5000", False),
        ("ipv6:%5B::ffff:10.0.0.7%5D:5000", False),
        ("ipv6:%5B2001:db8::1%5D:5000", False),
        ("unix:/tmp/socket", False),
        ("", False),
        ("ipv4:localhost:5000", False),
    ],
)
def test_which_peers_are_loopback(peer: str, loopback: bool) -> None:
    assert loopback_peer(peer) is loopback
