"""Management a new user can drive: token discovery, deletes, --force-model, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import click
import grpc
import pytest
from click.testing import CliRunner

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.cli import main
from drucker.cli._client import EXIT_CODES, EXIT_OTHER, EXIT_REFUSED
from drucker.cli._target import DEFAULT_TARGET
from drucker.client import Client
from drucker.client.aio import AsyncClient
from drucker.client.errors import ClientError, NotFound
from tests.conftest import ECHO_PLUGIN
from tests.serving import ServeProcess, ThreadedServer, free_port


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Invoke the CLI (in ``cwd``) and return the exit code and standard error + output."""
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), env=env)
    finally:
        os.chdir(previous)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory whose settings.yml puts the store (and token file) under it."""
    root = tmp_path_factory.mktemp("cli-project")
    (root / "settings.yml").write_text(
        "app.name: echo\napp.modeldir: ./model\napp.evaldir: ./eval\n"
    )
    return root


@pytest.fixture(scope="module")
def server(project: Path, echo_model: Path) -> Iterator[ThreadedServer]:
    """A server whose generated token lands in <project>/model/echo/.management-token."""
    settings = {
        "application_name": "echo",
        "model_dir": str(project / "model"),
        "eval_dir": str(project / "eval"),
    }
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=project) as server:
        yield server


NO_TOKEN_ENV = {"DRUCKER_MANAGEMENT_TOKEN": "", "DRUCKER_MANAGEMENT_TOKEN_FILE": ""}


def test_the_cli_finds_a_local_servers_token_file(server: ThreadedServer, project: Path) -> None:
    token_file = project / "model" / "echo" / ".management-token"
    assert token_file.is_file()
    code, out = run("model", "list", "--target", server.target, cwd=project, env=NO_TOKEN_ENV)
    assert code == 0, out
    assert "(the start-up model, not in the store)" in out


def test_the_token_file_is_found_under_the_name_the_server_reports(
    tmp_path: Path, echo_model: Path
) -> None:
    """The server's app.name came from its own environment; the CLI's settings name none."""
    (tmp_path / "settings.yml").write_text("app.modeldir: ./model\napp.evaldir: ./eval\n")
    settings = {
        "application_name": "text",
        "model_dir": str(tmp_path / "model"),
        "eval_dir": str(tmp_path / "eval"),
    }
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), settings, workdir=tmp_path) as server:
        assert (tmp_path / "model" / "text" / ".management-token").is_file()
        code, out = run("model", "list", "--target", server.target, cwd=tmp_path, env=NO_TOKEN_ENV)
    assert code == 0, out


def test_unauthenticated_says_where_the_token_was_looked_for(
    server: ThreadedServer, tmp_path: Path
) -> None:
    code, out = run("model", "list", "--target", server.target, cwd=tmp_path, env=NO_TOKEN_ENV)
    assert code == EXIT_CODES[grpc.StatusCode.UNAUTHENTICATED]
    assert "--token and $DRUCKER_MANAGEMENT_TOKEN: not given" in out
    assert "--token-file and $DRUCKER_MANAGEMENT_TOKEN_FILE: not given" in out
    assert "model/drucker/.management-token: not found" in out
    code, out = run(
        "model", "list", "--target", server.target, "--token", "wrong", env=NO_TOKEN_ENV
    )
    assert code == 5 and "--token (used)" in out
    code, out = run(
        "model", "list", "--target", server.target, env={"DRUCKER_MANAGEMENT_TOKEN": "wrong"}
    )
    assert code == 5 and "$DRUCKER_MANAGEMENT_TOKEN (used)" in out


def test_a_remote_target_never_gets_a_local_token(project: Path) -> None:
    port = free_port()
    code, _ = run(
        "model", "list", "--target", f"192.0.2.1:{port}", "--timeout", "0.5", cwd=project,
        env=NO_TOKEN_ENV,
    )  # fmt: skip
    assert code == 4  # nothing answers there; the point is what was sent
    from drucker.cli._client import find_token

    with click.Context(click.Command("x")):
        token, tried = find_token(None, None, None, f"192.0.2.1:{port}")
    assert token is None and any("remote target" in t for t in tried)


def test_delete_a_model_and_evaluation_data(
    server: ThreadedServer, project: Path, echo_model: Path, tmp_path: Path
) -> None:
    token = (project / "model" / "echo" / ".management-token").read_text().strip()
    auth = ["--target", server.target, "--token", token]
    with Client(server.target, token=token) as client:
        client.upload_model(echo_model, "old.model")
        client.upload_model(echo_model, "serving.model")
        client.switch_model("serving.model")
        data = tmp_path / "data.csv"
        data.write_text("a,a\n")
        client.upload_evaluation_data(data, "data.csv")

    code, out = run("model", "delete", "serving.model", *auth)
    assert code == EXIT_REFUSED and "FAILED_PRECONDITION" in out and "serving" in out
    code, out = run("model", "delete", "old.model", *auth)
    assert code == 0 and "deleted model old.model" in out
    code, out = run("model", "delete", "old.model", *auth)
    assert code == EXIT_CODES[grpc.StatusCode.NOT_FOUND]
    code, out = run("model", "delete", "../etc", *auth)
    assert code == EXIT_CODES[grpc.StatusCode.INVALID_ARGUMENT]
    code, out = run("data", "delete", "data.csv", *auth)
    assert code == 0 and "deleted evaluation data data.csv" in out
    assert not (project / "eval" / "echo" / "data.csv").exists()
    with Client(server.target, token=token) as client:
        names = [m.name for m in client.list_models()[0]]
        assert names == [echo_model.name, "serving.model"]  # the start model joined at the switch
        with pytest.raises(NotFound):
            client.delete_evaluation_data("data.csv")
    assert (project / "model" / "echo" / "serving.model").is_file()

    async def through_aio() -> None:
        async with AsyncClient(server.target, token=token) as client:
            await client.upload_model(echo_model, "aio.model")
            assert "aio.model" in await client.delete_model("aio.model")
            with pytest.raises(ClientError) as caught:
                await client.delete_model("serving.model")
            assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION

    asyncio.run(through_aio())


def test_deletes_need_the_token(server: ThreadedServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
        for call, request in (
            (stub.DeleteModel, drucker_pb2.DeleteModelRequest(name="serving.model")),
            (stub.DeleteEvaluationData, drucker_pb2.DeleteEvaluationDataRequest(name="x")),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=5)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_help_names_env_vars_exit_codes_and_one_default_target() -> None:
    for command in (["predict"], ["health"], ["model", "list"], ["model", "delete"]):
        code, out = run(*command, "--help")
        assert code == 0
        assert "DRUCKER_TARGET" in out and DEFAULT_TARGET in out
    _, out = run("model", "upload", "--help")
    for variable in ("DRUCKER_MANAGEMENT_TOKEN", "DRUCKER_MANAGEMENT_TOKEN_FILE"):
        assert f"{variable}" in out
    for command in (["predict"], ["model", "delete"], ["data", "delete"]):
        _, out = run(*command, "--help")
        listed = out.split("Exit codes:")[1]
        documented = {int(n) for n in re.findall(r"^\s+(\d)  ", listed, flags=re.M)}
        assert {0, 2, *EXIT_CODES.values(), EXIT_REFUSED, EXIT_OTHER} <= documented
    _, out = run("serve", "--help")
    assert "DRUCKER_SETTINGS_YAML" in out and "--force-model" in out
    _, out = run("bundle", "build", "--help")
    assert "--bundle-version" in out and "drucker --version" in out


def _messages(server: ServeProcess) -> list[dict[str, object]]:
    return [json.loads(line) for line in server.stderr.splitlines() if line.startswith("{")]


def _serve(workdir: Path, model: Path, port: int, *extra: str) -> ServeProcess:
    args = ["--plugin", ECHO_PLUGIN, "--settings", "settings.yml", "--port", str(port)]
    server = ServeProcess([*args, "--model", str(model), *extra], cwd=workdir)
    server.wait_serving(port)
    return server


def test_force_model_wins_over_the_stores_last_switch(tmp_path: Path, echo_model: Path) -> None:
    (tmp_path / "settings.yml").write_text(
        "app.name: echo\napp.modeldir: ./model\napp.evaldir: ./eval\nmanagement.token: t\n"
    )
    other = tmp_path / "other.model"
    other.write_text("echo-b\n")
    port = free_port()
    server = _serve(tmp_path, echo_model, port)
    try:
        with Client(f"127.0.0.1:{port}", token="t") as client:
            client.upload_model(other, "switched.model")
            client.switch_model("switched.model")
    finally:
        assert server.terminate() == 0
    loaded = next(m for m in _messages(server) if str(m["short_message"]).startswith("loaded"))
    assert len(str(loaded["sha256"])) == 64  # also for a model from --model

    server = _serve(tmp_path, echo_model, port)
    assert server.terminate() == 0
    loaded = next(m for m in _messages(server) if str(m["short_message"]).startswith("loaded"))
    assert "loaded model switched.model" in str(loaded["short_message"])
    assert "add --force-model to serve it" in str(loaded["short_message"])

    server = _serve(tmp_path, echo_model, port, "--force-model")
    try:
        with Client(f"127.0.0.1:{port}") as client:
            assert client.service_info().model_name == echo_model.name
    finally:
        assert server.terminate() == 0
    loaded = next(m for m in _messages(server) if str(m["short_message"]).startswith("loaded"))
    assert "--force-model, over the store's last switch to switched.model" in str(
        loaded["short_message"]
    )
    code, out = run("serve", "--force-model")
    assert code == 2 and "--force-model needs --model" in out


def test_a_taken_port_is_one_line_without_grpc_noise(tmp_path: Path, echo_model: Path) -> None:
    with socket.socket(socket.AF_INET6) as taken:
        taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        taken.bind(("::", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServeProcess(
            ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)],
            cwd=tmp_path,
        )
        assert server.wait() == 2
    lines = [line for line in server.stderr.splitlines() if not line.startswith("{")]
    assert lines == [f"drucker serve: cannot listen on [::]:{port}: the port is in use"]
