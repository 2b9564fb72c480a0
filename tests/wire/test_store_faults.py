"""Faults of the store: the serving file is safe, OS errors keep the reply contract and leave no
temporary file, orphans are found by their lock, results live apart from data."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from drucker.store.files import FileStore
from tests.conftest import ECHO_PLUGIN
from tests.datasets import write_iris_csv
from tests.management import (
    evaluate,
    evaluation_result,
    list_models,
    switch_model,
    upload_data,
    upload_model,
)
from tests.serving import ServeProcess, ThreadedServer, free_port

TOKEN = "store-token"
SETTINGS = {"management_token": TOKEN}


def _temporary_files(directory: Path) -> list[str]:
    return sorted(
        p.name for p in directory.iterdir() if p.name.endswith(".tmp") or ".upload-" in p.name
    )


def test_the_file_serving_before_any_switch_cannot_be_overwritten(tmp_path: Path) -> None:
    store = tmp_path / "model" / "drucker"
    store.mkdir(parents=True)
    (store / "default.model").write_text("echo-original\n")
    with ThreadedServer(ECHO_PLUGIN, None, SETTINGS, workdir=tmp_path) as server:
        with server.channel() as channel:
            reply = upload_model(channel, "default.model", b"echo-replaced", TOKEN)
    assert reply.status == 0
    assert "serving model was loaded from" in reply.message
    assert (store / "default.model").read_text() == "echo-original\n"
    assert _temporary_files(store) == []


@pytest.fixture
def echo_on_store(tmp_path: Path, echo_model: Path) -> Iterator[ThreadedServer]:
    """A server of the echo plugin whose model store is ``tmp_path / "model" / "drucker"``."""
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), SETTINGS, workdir=tmp_path) as server:
        yield server


def test_an_upload_onto_a_directory_answers_status_0_and_leaves_nothing(
    echo_on_store: ThreadedServer, tmp_path: Path
) -> None:
    store = tmp_path / "model" / "drucker"
    (store / "x.model").mkdir()
    with echo_on_store.channel() as channel:
        reply = upload_model(channel, "x.model", b"echo-x", TOKEN)
        assert reply.status == 0
        assert "storage failed" in reply.message
        assert upload_model(channel, "y.model", b"echo-y", TOKEN).status == 1
    assert _temporary_files(store) == []


def test_a_switch_whose_store_fails_answers_status_0_and_keeps_serving(
    echo_on_store: ThreadedServer, tmp_path: Path
) -> None:
    store = tmp_path / "model" / "drucker"
    with echo_on_store.channel() as channel:
        assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
        (store / ".index.json").unlink()
        (store / ".index.json").mkdir()  # the index can no longer be read
        reply = switch_model(channel, "b.model", TOKEN)
    assert reply.status == 0
    assert "storage failed" in reply.message
    active = echo_on_store.runtime.active
    assert active is not None and active.name == "echo-a.model"


def test_a_full_disk_during_upload_answers_status_0_and_leaves_no_temporary_file(
    tmp_path: Path, echo_model: Path
) -> None:
    """A real write failure: the server runs under a file size limit of 1 MiB (EFBIG)."""
    port = free_port()
    command = [sys.executable, "-m", "drucker", "serve", "-p", ECHO_PLUGIN, "-m", str(echo_model)]
    command += ["--port", str(port)]
    env = {
        **os.environ,
        "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
        "DRUCKER_SERVICE_MODEL_DIR": str(tmp_path),
    }
    server = ServeProcess.__new__(ServeProcess)
    server.stderr_path = tmp_path / "serve.log"
    server._stderr = server.stderr_path.open("wb")
    server.process = subprocess.Popen(
        ["bash", "-c", 'ulimit -f 1024 && exec "$@"', "serve", *command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=server._stderr,
    )
    try:
        server.wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = upload_model(channel, "big.model", b"e" * (4 * 1024 * 1024), TOKEN)
            assert reply.status == 0
            assert "storage is full" in reply.message
            assert upload_model(channel, "small.model", b"echo-small", TOKEN).status == 1
    finally:
        server.terminate()
    store = tmp_path / "drucker"
    assert _temporary_files(store) == []
    assert not (store / "big.model").exists()


def test_orphaned_uploads_are_found_by_their_lock_not_their_pid(tmp_path: Path) -> None:
    store = FileStore(tmp_path, "model")
    orphan = tmp_path / ".upload-1-0123456789ab"  # PID 1 is alive: a restarted container
    orphan.write_bytes(b"half an upload")
    index_copy = tmp_path / "..index.json.1-0123456789ab.tmp"
    index_copy.write_text("{}")
    live = store.begin("live.model", 1 << 20)
    live.write(b"still coming")
    FileStore(tmp_path, "model")  # another process (or a restart) opens the store
    assert not orphan.exists()
    assert not index_copy.exists()
    assert _temporary_files(tmp_path) == [live._path.name]
    stored = live.commit()
    assert stored.size == len(b"still coming")
    assert _temporary_files(tmp_path) == []


@pytest.fixture
def iris_server(tmp_path: Path, iris_model: Path) -> ThreadedServer:
    with ThreadedServer("drucker_sklearn", str(iris_model), SETTINGS, workdir=tmp_path) as server:
        yield server


def test_a_128_character_data_name_is_evaluated_under_the_default_result_name(
    iris_server: ThreadedServer, tmp_path: Path
) -> None:
    name = "d" * 124 + ".csv"
    data = write_iris_csv(tmp_path / "iris.csv")
    with iris_server.channel() as channel:
        assert upload_data(channel, name, data, TOKEN).status == 1
        metrics = evaluate(channel, name, "", TOKEN).metrics
        assert metrics.num == 150
        assert evaluation_result(channel, name + ".result", TOKEN)[0].metrics.num == 150


def test_data_named_results_does_not_disturb_evaluations(
    iris_server: ThreadedServer, tmp_path: Path
) -> None:
    data = write_iris_csv(tmp_path / "iris.csv")
    with iris_server.channel() as channel:
        for name in ("results", "iris.csv"):
            assert upload_data(channel, name, data, TOKEN).status == 1
        assert evaluate(channel, "iris.csv", "run", TOKEN).metrics.num == 150
        assert evaluate(channel, "results", "", TOKEN).metrics.num == 150


def test_a_result_store_that_fails_gives_a_status_code_not_unknown(
    iris_server: ThreadedServer, tmp_path: Path
) -> None:
    data = write_iris_csv(tmp_path / "iris.csv")
    (tmp_path / "eval" / "drucker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "eval" / "drucker" / ".results").write_text("a file where a directory belongs")
    with iris_server.channel() as channel:
        assert upload_data(channel, "iris.csv", data, TOKEN).status == 1
        with pytest.raises(grpc.RpcError) as caught:
            evaluate(channel, "iris.csv", "run", TOKEN)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert "storage failed" in (caught.value.details() or "")


def test_concurrent_evaluations_into_one_result_name_stay_consistent(
    iris_server: ThreadedServer, tmp_path: Path
) -> None:
    sizes = {"small.csv": 1, "large.csv": 40}  # 150 and 6,000 samples
    with iris_server.channel() as channel:
        for name, repeat in sizes.items():
            assert upload_data(channel, name, write_iris_csv(tmp_path / name, repeat), TOKEN).status
        for _ in range(3):
            threads = [
                threading.Thread(target=evaluate, args=(channel, name, "shared", TOKEN))
                for name in [*sizes, *sizes]
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            answer = evaluation_result(channel, "shared", TOKEN)
            details = sum(len(message.detail) for message in answer[1:])
            assert answer[0].metrics.num == details
            assert details in (150, 6000)
    results = tmp_path / "eval" / "drucker" / ".results"
    assert len(list(results.glob("shared.*.jsonl"))) == 1
    assert _temporary_files(results) == []


def test_an_unexpected_failure_of_the_framework_is_internal_not_unknown(
    tmp_path: Path, echo_model: Path
) -> None:
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), SETTINGS, workdir=tmp_path) as server:
        index = tmp_path / "model" / "drucker" / ".index.json"
        index.unlink(missing_ok=True)
        index.mkdir()  # ListModels has no answer for an unreadable index of its own
        with server.channel() as channel:
            with pytest.raises(grpc.RpcError) as caught:
                list_models(channel, TOKEN)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert "Is a directory" in (caught.value.details() or "")  # the reason, however reported
