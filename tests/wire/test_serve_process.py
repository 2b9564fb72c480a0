"""`drucker serve` as a real process: start-up errors, graceful shutdown, the demo."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

from drucker.kinds import Kind
from tests.calls import Answer, call
from tests.conftest import ECHO_PLUGIN, REPO
from tests.polling import wait_for
from tests.serving import ServeProcess, echo_serve_args, free_port

GATE_PLUGIN = str(REPO / "tests" / "plugins" / "gate_plugin.py")


def test_serves_the_iris_example_from_settings(tmp_path: Path, iris_model: Path) -> None:
    (tmp_path / "model" / "iris").mkdir(parents=True)
    (tmp_path / "model" / "iris" / "iris.joblib").write_bytes(iris_model.read_bytes())
    settings = (REPO / "examples" / "iris" / "settings.yml").read_text()
    (tmp_path / "settings.yml").write_text(settings)
    port = free_port()
    server = ServeProcess(
        ["--plugin", "drucker_sklearn", "--settings", "settings.yml", "--port", str(port)],
        cwd=tmp_path,
    )
    try:
        server.wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = call(channel, Kind.ARR_FLOAT, Kind.STRING, [5.1, 3.5, 1.4, 0.2])
        assert answer.label == "setosa"
        assert 0.5 < answer.score <= 1.0
    finally:
        assert server.terminate() == 0
    records = [json.loads(line) for line in server.stderr.splitlines()]
    messages = [record["short_message"] for record in records]
    assert any("loaded model iris.joblib (from the settings" in m for m in messages)
    assert f"serving on port {port}" in messages
    assert messages[-1] == "stopped"
    assert all(record["ml_service"] == "iris" for record in records)


def poll_until_refused(channel: grpc.Channel, limit: float = 30) -> grpc.StatusCode:
    """Send new requests until one is refused; the refusal's status code.

    A request that reaches the server just as it begins to stop may still be answered, be
    cancelled by gRPC itself, or (on a connection gRPC was closing) be left unanswered until its
    deadline; all three mean "not stopped yet" here, so polling goes on.
    """
    in_between = (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            call(channel, Kind.STRING, Kind.STRING, "late", timeout=2)
        except grpc.RpcError as error:
            if error.code() not in in_between:
                return error.code()
        time.sleep(0.01)
    raise TimeoutError(f"new requests were still answered after {limit} s")


def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_ones(
    tmp_path: Path, echo_model: Path
) -> None:
    port = free_port()
    server = ServeProcess(
        ["--plugin", GATE_PLUGIN, "--model", str(echo_model), "--port", str(port)], cwd=tmp_path
    )
    entered, gate = tmp_path / "entered", tmp_path / "gate"
    held = json.dumps({"entered": str(entered), "gate": str(gate)})
    results: list[Answer | grpc.RpcError] = []
    try:
        server.wait_serving(port)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")

        def held_request() -> None:
            try:
                results.append(call(channel, Kind.STRING, Kind.STRING, "held", held, timeout=60))
            except grpc.RpcError as error:
                results.append(error)

        worker = threading.Thread(target=held_request)
        worker.start()
        wait_for(entered.exists, "the held request to reach the plugin")
        server.process.send_signal(signal.SIGTERM)
        assert poll_until_refused(channel) is grpc.StatusCode.UNAVAILABLE
        assert server.process.poll() is None  # still draining the held request
        gate.touch()
        worker.join(60)
        channel.close()
        code = server.wait(30)
    finally:
        server.kill()
    assert code == 0
    assert len(results) == 1 and isinstance(results[0], Answer), results
    assert results[0].label == "held"


def test_sigint_also_stops_cleanly(tmp_path: Path, echo_model: Path) -> None:
    port = free_port()
    server = ServeProcess(echo_serve_args(echo_model, port), cwd=tmp_path)
    server.wait_serving(port)
    assert server.terminate(signal.SIGINT) == 0


def test_refuses_to_start_when_the_port_is_taken(tmp_path: Path, echo_model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServeProcess(
            echo_serve_args(echo_model, port, "--host", "127.0.0.1"), cwd=tmp_path
        )
        assert server.wait(30) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in server.stderr


def test_refuses_to_start_when_the_model_cannot_be_loaded(tmp_path: Path) -> None:
    server = ServeProcess(
        ["--plugin", "drucker_sklearn", "--model", "absent.joblib", "--port", "0"], cwd=tmp_path
    )
    assert server.wait(30) == 2
    assert "model file absent.joblib does not exist" in server.stderr
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a joblib file")
    server = ServeProcess(
        ["--plugin", "drucker_sklearn", "--model", str(broken), "--port", "0"], cwd=tmp_path
    )
    assert server.wait(30) == 2
    assert "the plugin failed to load" in server.stderr


def test_refuses_to_start_with_bad_settings(tmp_path: Path) -> None:
    (tmp_path / "settings.yml").write_text("app.port: five\n")
    server = ServeProcess(["--plugin", ECHO_PLUGIN, "--settings", "settings.yml"], cwd=tmp_path)
    assert server.wait(30) == 2
    assert "settings.yml: key 'app.port': expected an integer" in server.stderr


def test_refuses_to_start_without_a_usable_plugin(tmp_path: Path) -> None:
    server = ServeProcess(["--plugin", "no_such_module_here", "--port", "0"], cwd=tmp_path)
    assert server.wait(30) == 2
    assert "plugin 'no_such_module_here' not found" in server.stderr


def test_demo_serves_and_predicts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drucker", "demo"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["label"] for a in answers] == ["setosa", "versicolor", "virginica"]
    for answer in answers:
        assert answer["ranking"][answer["label"]] == max(answer["ranking"].values())
    # The token file is named in a line people read, not only inside a JSON log record.
    human = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert any(
        line.startswith("management token in ") and line.split()[3].endswith(".management-token")
        for line in human
    ), result.stderr


def _start_record(stderr: str) -> dict[str, object]:
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return next(r for r in records if str(r["short_message"]).startswith("serving on port"))


def test_serves_on_uvloop_by_default_and_on_asyncio_when_asked(
    tmp_path: Path, echo_model: Path
) -> None:
    for env, expected in (({}, "uvloop"), ({"DRUCKER_APP_EVENT_LOOP": "asyncio"}, "asyncio")):
        port = free_port()
        args = ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)]
        server = ServeProcess(args, cwd=tmp_path, env=env)
        server.wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert call(channel, Kind.STRING, Kind.STRING, "hi").label == "hi"
        assert server.terminate() == 0
        assert _start_record(server.stderr)["event_loop"] == expected


def test_side_ports_are_chosen_on_the_command_line(tmp_path: Path, echo_model: Path) -> None:
    """Two servers on one host, each with its own --http-port and --metrics-port."""
    servers = []
    try:
        for name in ("one", "two"):
            port, http_port, metrics_port = free_port(), free_port(), free_port()
            workdir = tmp_path / name
            workdir.mkdir()
            args = ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)]
            args += ["--http-port", str(http_port), "--metrics-port", str(metrics_port)]
            # The environment turns both side ports off: the flags must win over it.
            server = ServeProcess(args, cwd=workdir)
            servers.append(server)
            server.wait_serving(port)
            for side in (http_port, metrics_port):
                with socket.create_connection(("127.0.0.1", side), timeout=5) as sock:
                    path = "/v2/health/live" if side == http_port else "/livez"
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    assert sock.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        for server in servers:
            server.terminate()


def test_a_taken_side_port_names_the_flag_and_the_setting(tmp_path: Path, echo_model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        args = ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(free_port())]
        args += ["--host", "127.0.0.1", "--metrics-port", str(metrics_port)]
        server = ServeProcess(args, cwd=tmp_path)
        assert server.wait(30) == 2
    message = server.stderr
    assert f"metrics port: cannot listen on 127.0.0.1:{metrics_port}" in message
    assert "--metrics-port" in message and "metrics.port" in message, message
