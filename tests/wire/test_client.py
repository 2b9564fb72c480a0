"""The client SDK against real servers on loopback."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from drucker._wire import drucker_pb2_grpc
from drucker.client import Client, errors
from drucker.kinds import Kind
from tests.conftest import ECHO_PLUGIN
from tests.plugins.echo_plugin import echo
from tests.plugins.slow_loader import SlowLoader
from tests.serving import ThreadedServer, free_port

INPUTS: dict[Kind, Any] = {
    Kind.STRING: "1,2,3",
    Kind.BYTES: b"1,2,3",
    Kind.ARR_INT: [1, 2, 3],
    Kind.ARR_FLOAT: np.array([1.5, 2.5, 3.0]),
    Kind.ARR_STRING: ["1", "2", "3"],
}


@pytest.fixture(scope="module")
def client(echo_server: ThreadedServer) -> Iterator[Client]:
    with Client(echo_server.target) as client:
        yield client


@pytest.mark.parametrize("output", list(Kind), ids=lambda k: k.wire_name)
@pytest.mark.parametrize("input_kind", list(Kind), ids=lambda k: k.wire_name)
def test_every_kind(client: Client, input_kind: Kind, output: Kind) -> None:
    value = INPUTS[input_kind]
    result = client.predict(value, output=output)
    plain = value.tolist() if isinstance(value, np.ndarray) else value
    assert result.label == echo(plain, output)
    assert result.option["model"] == "echo-a"


def test_kind_from_numpy_and_names(client: Client) -> None:
    assert client.predict(np.array([4, 5]), output="ArrInt").label == [4, 5]
    assert client.predict(np.array(["a", "b"]), output="ARR_STRING").label == ["a", "b"]
    assert client.predict((1, 2.5), output=Kind.ARR_FLOAT).label == [1.0, 2.5]
    big = bytes(range(256)) * 20000  # 5 MB: several chunks each way
    assert client.predict(big, output=Kind.BYTES).label == big
    with pytest.raises(TypeError, match="empty sequence"):
        client.predict([], output="String")


def test_errors_carry_the_status(client: Client) -> None:
    with pytest.raises(errors.InvalidArgument) as invalid:
        client.predict("x", option={"raise": "value"})
    assert invalid.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "echo refuses this input" in str(invalid.value)
    with pytest.raises(errors.ServerError) as internal:
        client.predict("x", option={"raise": "runtime"})
    assert internal.value.code is grpc.StatusCode.INTERNAL
    with Client(f"127.0.0.1:{free_port()}", timeout=2, max_attempts=1) as nobody:
        with pytest.raises(errors.Unavailable):
            nobody.predict("x")


def test_deadline_and_refused_inputs(client: Client) -> None:
    with pytest.raises(errors.DeadlineExceeded) as late:
        client.predict("x", option={"sleep": 1.0}, timeout=0.2)
    assert late.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(ValueError, match="flat arrays"):
        client.predict(np.ones((2, 2)), output="ArrFloat")
    with pytest.raises(TypeError, match="only str, or only int and float"):
        client.predict([1, "a"], output="String")
    with pytest.raises(ValueError, match="unknown kind"):
        client.predict("x", output="Tensor")


def _echo_server(tmp_path: Path, name: str) -> ThreadedServer:
    model = tmp_path / f"{name}.model"
    model.write_text(name)
    return ThreadedServer(ECHO_PLUGIN, str(model), workdir=tmp_path / name).start()


def test_three_targets_one_down_round_robin(tmp_path: Path) -> None:
    first, second = _echo_server(tmp_path, "first"), _echo_server(tmp_path, "second")
    try:
        targets = [first.target, f"127.0.0.1:{free_port()}", second.target]
        answered: Counter[str] = Counter()
        with Client(targets, timeout=5) as client:
            for _ in range(60):
                answered[client.predict("x").option["model"]] += 1
        assert sum(answered.values()) == 60
        assert set(answered) == {"first", "second"}
        assert min(answered.values()) >= 20  # spread, not all on one server
    finally:
        first.stop()
        second.stop()


def test_predictions_are_retried_while_unavailable(echo_model: Path, tmp_path: Path) -> None:
    plugin = SlowLoader()
    server = ThreadedServer(plugin, str(echo_model), port=free_port(), workdir=tmp_path)
    server.start(wait=False)
    try:
        target = f"127.0.0.1:{server.requested_port}"
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
        with Client(target, timeout=10) as client:
            assert client.health() is False
            threading.Timer(0.3, plugin.release.set).start()
            assert client.predict("x").label == echo_model.name  # after UNAVAILABLE answers
    finally:
        plugin.release.set()
        server.stop()


class _Recorder(drucker_pb2_grpc.DruckerDashboardServicer):  # type: ignore[misc]
    """A real gRPC server that answers UNAVAILABLE and counts the attempts."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def _refuse(self, name: str, context: grpc.ServicerContext) -> Any:
        self.calls[name] += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "try again")

    def UploadModel(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        for _ in requests:
            pass
        return self._refuse("UploadModel", context)

    def SwitchModel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._refuse("SwitchModel", context)

    def ServiceInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._refuse("ServiceInfo", context)


def test_management_calls_are_never_retried(tmp_path: Path) -> None:
    recorder = _Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    drucker_pb2_grpc.add_DruckerDashboardServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    model = tmp_path / "m.bin"
    model.write_bytes(b"x" * 1000)
    try:
        with Client(f"127.0.0.1:{port}", max_attempts=4) as client:
            with pytest.raises(errors.Unavailable):
                client.upload_model(model, "m.bin")
            with pytest.raises(errors.Unavailable):
                client.switch_model("m.bin")
            with pytest.raises(errors.Unavailable):
                client.service_info()
    finally:
        server.stop(0)
    assert recorder.calls["UploadModel"] == 1
    assert recorder.calls["SwitchModel"] == 1
    assert recorder.calls["ServiceInfo"] == 4  # reads are retried: the policy is in force


def test_management_end_to_end(tmp_path: Path, iris_model: Path) -> None:
    from tests.datasets import write_iris_csv

    token = "client-token"
    settings = {"management_token": token}
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        with Client(server.target, token=token) as client:
            assert client.health()
            sent: list[tuple[int, int]] = []
            message = client.upload_model(
                iris_model, "v2.joblib", progress=lambda *p: sent.append(p)
            )
            assert "Success" in message and sent[-1][0] == sent[-1][1] == iris_model.stat().st_size
            models, serving = client.list_models()
            assert [m.name for m in models] == ["v2.joblib"] and serving == "iris.joblib"
            client.switch_model("v2.joblib")
            assert client.service_info().model_name == "v2.joblib"
            with pytest.raises(errors.ManagementError, match="no model named"):
                client.switch_model("absent.joblib")
            # The digest is computed and sent by default; a wrong one is refused, nothing stored.
            assert "sha256" in client.upload_model(iris_model, "v3.joblib")
            with pytest.raises(errors.ManagementError, match="sha256"):
                client.upload_model(iris_model, "v4.joblib", sha256="0" * 64)
            # the start model joined the store when the switch left it (a rollback returns there)
            names = [m.name for m in client.list_models()[0]]
            assert names == ["iris.joblib", "v2.joblib", "v3.joblib"]
            data = write_iris_csv(tmp_path / "iris.csv")
            client.upload_evaluation_data(data, "iris.csv")
            metrics = client.evaluate("iris.csv", "run")
            assert metrics.num == 150 and metrics.labels == ["setosa", "versicolor", "virginica"]
            stored, records = client.evaluation_result("run")
            assert stored == metrics
            rows = list(records)
            assert len(rows) == 150 and rows[0].label == "setosa" and rows[0].is_correct
            with pytest.raises(errors.NotFound):
                client.evaluation_result("never")
        with Client(server.target) as anonymous, pytest.raises(errors.Unauthenticated):
            anonymous.list_models()
