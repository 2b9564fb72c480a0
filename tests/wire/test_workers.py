"""Several worker processes on one port: spread, switches reach all, clean stop."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.management import switch_model, upload_model
from tests.polling import wait_for
from tests.serving import ServeProcess, echo_serve_args, free_port

TOKEN = "workers-token"


def answers_by_pid(port: int, connections: int = 24) -> dict[int, str]:
    """Ask over many connections (the kernel spreads connections, not requests)."""
    seen: dict[int, str] = {}
    for index in range(connections):
        options = [("grpc.use_local_subchannel_pool", 1), ("test.connection", index)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            option = json.loads(call(channel, Kind.STRING, Kind.STRING, "x").option)
            seen[option["pid"]] = option["model"]
    return seen


def answers_until(
    port: int, condition: Callable[[dict[int, str]], bool], limit: float = 30
) -> dict[int, str]:
    """Ask (as :func:`answers_by_pid`) until the answers meet ``condition``, at most ``limit`` s."""
    deadline = time.monotonic() + limit
    seen = answers_by_pid(port)
    while not condition(seen):
        if time.monotonic() > deadline:
            raise TimeoutError(f"answers after {limit} s: {seen}")
        seen = answers_by_pid(port)
    return seen


def test_workers_share_the_port_and_follow_switches(tmp_path: Path, echo_model: Path) -> None:
    port = free_port()
    server = ServeProcess(
        echo_serve_args(echo_model, port, "--workers", "2"),
        cwd=tmp_path,
        env={"DRUCKER_MANAGEMENT_TOKEN": TOKEN},
    )
    try:
        server.wait_serving(port)
        seen = answers_until(port, lambda seen: len(seen) == 2)  # the second may still load
        assert set(seen.values()) == {"echo-a"}
        assert server.process.pid not in seen
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
            assert switch_model(channel, "b.model", TOKEN).status == 1
        # The other worker follows when it next polls the store.
        seen = answers_until(port, lambda seen: set(seen.values()) == {"echo-b"})
        assert len(seen) == 2 and server.process.pid not in seen, seen
    finally:
        code = server.terminate()
    assert code == 0
    assert "following the model store" in server.stderr


def test_a_stop_while_the_workers_still_start_is_a_clean_stop(
    tmp_path: Path, echo_model: Path
) -> None:
    """SIGTERM right after the supervisor started its workers (they take a second or more
    to import): they end by the signal before serving, and the supervisor exits 0."""
    server = ServeProcess(echo_serve_args(echo_model, free_port(), "--workers", "2"), cwd=tmp_path)
    try:
        wait_for(lambda: "supervising 2 worker processes" in server.stderr, "the workers started")
    finally:
        code = server.terminate()
    assert code == 0, server.stderr
    assert "serving on port" not in server.stderr  # the stop came while they were starting
    assert "restarting" not in server.stderr


def test_workers_that_cannot_start_stop_the_supervisor(tmp_path: Path) -> None:
    server = ServeProcess(
        ["--plugin", ECHO_PLUGIN, "--model", "absent.model", "--port", "0", "--workers", "2"],
        cwd=tmp_path,
    )
    assert server.wait(60) == 2
    assert "could not start" in server.stderr


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_workers_die_with_a_supervisor_killed_by_sigkill(tmp_path: Path, echo_model: Path) -> None:
    port = free_port()
    server = ServeProcess(
        ["-p", ECHO_PLUGIN, "-m", str(echo_model), "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env={"DRUCKER_MANAGEMENT_TOKEN": TOKEN},
    )
    try:
        server.wait_serving(port)
        workers = set(answers_until(port, lambda seen: len(seen) == 2))
    finally:
        server.kill()  # SIGKILL: the supervisor cannot forward anything
    try:
        wait_for(lambda: not any(_alive(p) for p in workers), "the orphaned workers to end", 30)
    finally:
        for pid in workers:  # leave no orphan behind when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    with pytest.raises(grpc.RpcError) as caught:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call(channel, Kind.STRING, Kind.STRING, "x", timeout=2)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
