"""Failed requests near the message limit free their memory (a real `drucker serve` process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest

from tests.conftest import ECHO_PLUGIN
from tests.hostile import NEAR_LIMIT_BYTES, arr_float_message, peak_rss_bytes, raw_unary, rss_bytes
from tests.polling import wait_for
from tests.serving import ServeProcess, free_port

MiB = 1024 * 1024
REJECTED = '{"raise": "value"}'  # the echo plugin raises ValueError: INVALID_ARGUMENT
METHOD = "/drucker.DruckerWorker/Predict_ArrFloat_String"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, int]]:
    work = tmp_path_factory.mktemp("memory")
    (work / "model.txt").write_text("m")
    port = free_port()
    serve = ServeProcess(
        ["-p", ECHO_PLUGIN, "-m", str(work / "model.txt"), "--port", str(port)], cwd=work
    )
    try:
        serve.wait_serving(port)
        yield serve, port
    finally:
        serve.terminate()


@pytest.fixture(scope="module")
def near_limit() -> bytes:
    """A message just under the size limit that the echo plugin refuses."""
    return arr_float_message(NEAR_LIMIT_BYTES, REJECTED)


@contextmanager
def _raw_method(port: int) -> Iterator[grpc.UnaryUnaryMultiCallable]:
    """METHOD on the server at ``port``, sending raw bytes, over a channel open meanwhile."""
    options = [("grpc.max_send_message_length", 100 * MiB)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        yield raw_unary(channel, METHOD)


def _rejected(call: grpc.UnaryUnaryMultiCallable, message: bytes) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call(message, timeout=120)
    return caught.value.code()


def test_ten_failed_near_limit_requests_leave_rss_where_it_started(
    server: tuple[ServeProcess, int], near_limit: bytes
) -> None:
    serve, port = server
    pid = serve.process.pid
    start = rss_bytes(pid)
    with _raw_method(port) as call:
        codes = [_rejected(call, near_limit) for _ in range(10)]
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 10
    # The client sees the status before the server has unwound the rpc: poll, with a deadline.
    bound = start + 150 * MiB
    wait_for(lambda: rss_bytes(pid) <= bound, f"RSS back within 150 MB of {start // MiB} MB", 15)


def test_four_concurrent_failed_near_limit_requests_peak_below_three_messages_each(
    server: tuple[ServeProcess, int], near_limit: bytes
) -> None:
    serve, port = server
    pid = serve.process.pid
    wait_for(lambda: rss_bytes(pid) < 200 * MiB, "the server to settle", 15)
    start = rss_bytes(pid)
    codes: list[grpc.StatusCode] = []
    with _raw_method(port) as call:
        threads = [
            threading.Thread(target=lambda: codes.append(_rejected(call, near_limit)))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 4
    # VmHWM is the peak since the process started; the first test's requests were alone.
    assert peak_rss_bytes(pid) < start + 4 * 3 * len(near_limit)
