"""Management against `drucker serve` processes: a crash mid-upload, memory during an upload."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.management import list_models, switch_model, upload_model
from tests.serving import ServeProcess, free_port

TOKEN = "process-token"
ENV = {"DRUCKER_MANAGEMENT_TOKEN": TOKEN, "DRUCKER_LOG_PREDICTIONS": "false"}


def start(tmp_path: Path, echo_model: Path, port: int) -> ServeProcess:
    server = ServeProcess(
        ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)],
        cwd=tmp_path,
        env=ENV,
    )
    server.wait_serving(port)
    return server


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def test_crash_mid_upload_leaves_the_store_consistent(tmp_path: Path, echo_model: Path) -> None:
    port = free_port()
    store = tmp_path / "model" / "drucker"
    server = start(tmp_path, echo_model, port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert upload_model(channel, "b.model", b"echo-b", TOKEN).status == 1
            assert switch_model(channel, "b.model", TOKEN).status == 1
            index_before = json.loads((store / ".index.json").read_text())
            started = threading.Event()

            def slow_upload() -> Iterator[drucker_pb2.UploadModelRequest]:
                yield drucker_pb2.UploadModelRequest(path="c.model", data=b"c" * 65536)
                started.set()
                threading.Event().wait(60)

            stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
            future = stub.UploadModel.future(
                slow_upload(), metadata=[("authorization", f"Bearer {TOKEN}")]
            )
            assert started.wait(10)
            for _ in range(100):
                if any(p.name.startswith(".upload-") for p in store.iterdir()):
                    break
                threading.Event().wait(0.05)
            assert any(p.name.startswith(".upload-") for p in store.iterdir())
            server.process.send_signal(signal.SIGKILL)
            server.wait(10)
            future.cancel()
    finally:
        server.kill()

    server = start(tmp_path, echo_model, port)
    try:
        assert not any(p.name.startswith(".upload-") for p in store.iterdir())
        assert not (store / "c.model").exists()
        assert json.loads((store / ".index.json").read_text()) == index_before
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = call(channel, Kind.STRING, Kind.STRING, "x")
            assert json.loads(answer.option)["model"] == "echo-b"
            stored = {m.name for m in list_models(channel, TOKEN).models}
            assert stored == {"b.model", echo_model.name}  # the start model, kept by the switch
    finally:
        assert server.terminate() == 0


def test_a_100_mb_upload_streams_without_holding_the_file(tmp_path: Path, echo_model: Path) -> None:
    port = free_port()
    server = start(tmp_path, echo_model, port)
    size = 100 * 1024 * 1024
    block = os.urandom(256 * 1024)
    try:
        pid = server.process.pid
        rss_before = proc_kib(pid, "VmRSS")

        def requests() -> Iterator[drucker_pb2.UploadModelRequest]:
            for _ in range(size // len(block)):
                yield drucker_pb2.UploadModelRequest(path="big.model", data=block)

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
            reply = stub.UploadModel(
                requests(), metadata=[("authorization", f"Bearer {TOKEN}")], timeout=120
            )
        assert reply.status == 1, reply.message
        peak = proc_kib(pid, "VmHWM")
        growth_mib = (peak - rss_before) / 1024
        print(
            f"\n100 MiB upload: server RSS before {rss_before / 1024:.1f} MiB, "
            f"peak {peak / 1024:.1f} MiB, growth {growth_mib:.1f} MiB"
        )
        assert (tmp_path / "model" / "drucker" / "big.model").stat().st_size == size
        assert growth_mib < 32, f"server memory grew by {growth_mib:.1f} MiB"
    finally:
        assert server.terminate() == 0
