"""Overload on real servers: a full queue refuses with a pushback, a caller gone is never served.

The plugin holds its predictions at a gate the test opens (:mod:`tests.plugins.slow_predict`)
and counts what reached it, so each test orders its requests by events, not sleeps.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.admission import UNMEASURED_PUSHBACK_MS
from drucker.cli import main
from drucker.client import Client
from drucker.client.errors import DeadlineExceeded
from tests.metrics_support import scrape, value
from tests.plugins.slow_predict import (
    GatedBatchPredictor,
    GatedPredictor,
    TimedBatchPredictor,
    TimedPredictor,
)
from tests.polling import wait_for
from tests.serving import ThreadedServer, free_port

MODEL = "overload"
MAX_WAITING = 2


def _server(plugin: GatedPredictor, model_file: Path, http: bool = False) -> ThreadedServer:
    settings = {
        "application_name": MODEL,
        "predict_threads": 1,
        "loop_predict_ms": 0,  # always in the predict thread: the queue is the thread's
        "admission_max_waiting": MAX_WAITING,
        "metrics_port": free_port(),
    }
    return ThreadedServer(plugin, str(model_file), settings, http=http)


@pytest.fixture(params=["threads", "batcher"])
def gated(request: pytest.FixtureRequest, echo_model: Path) -> Iterator[tuple[Any, Any]]:
    """A started server with a gated plugin (one predict thread, or the batcher), and the plugin."""
    plugin = GatedPredictor() if request.param == "threads" else GatedBatchPredictor()
    server = _server(plugin, echo_model).start()
    try:
        yield server, plugin
    finally:
        plugin.gate.set()
        server.stop()


def _stub(server: ThreadedServer) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(server.target, options=[("grpc.enable_retries", 0)])
    return channel, drucker_pb2_grpc.DruckerWorkerStub(channel)


def _send(stub: Any, text: str, timeout: float = 30) -> Any:
    return stub.Predict_String_String.future(drucker_pb2.StringInput(input=text), timeout=timeout)


def _metric(server: ThreadedServer, name: str, **labels: str) -> float:
    return value(scrape(server.settings.metrics_port), name, model=MODEL, **labels)


def _queued(server: ThreadedServer, count: int) -> None:
    wait_for(
        lambda: _metric(server, "drucker_queued_predictions") == count,
        f"{count} predictions queued",
    )


def _fill(server: ThreadedServer, plugin: Any, stub: Any) -> tuple[Any, list[Any]]:
    """Hold "first" in the plugin and fill the queue behind it: the next request is refused.
    Returns the held call and the waiting ones."""
    first = _send(stub, "first")
    plugin.wait_entered()  # the plugin holds the first; the next ones wait
    waiting = [_send(stub, f"waiting-{n}") for n in range(MAX_WAITING)]
    _queued(server, MAX_WAITING)
    return first, waiting


def test_a_full_queue_refuses_at_once_with_a_pushback(gated: tuple[Any, Any]) -> None:
    server, plugin = gated
    channel, stub = _stub(server)
    with channel:
        first, waiting = _fill(server, plugin, stub)

        with pytest.raises(grpc.RpcError) as refused:
            stub.Predict_String_String(drucker_pb2.StringInput(input="refused"), timeout=10)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(refused.value.trailing_metadata() or ())
        assert int(trailers["grpc-retry-pushback-ms"]) > 0
        assert "admission.max_waiting" in refused.value.details()

        plugin.gate.set()
        assert first.result().output == "first"
        assert [call.result().output for call in waiting] == ["waiting-0", "waiting-1"]
    assert "refused" not in plugin.inputs
    assert _metric(server, "drucker_refused_requests_total", reason="queue_full") == 1
    _queued(server, 0)


def test_a_request_whose_deadline_passes_in_the_queue_never_reaches_the_plugin(
    gated: tuple[Any, Any],
) -> None:
    server, plugin = gated
    channel, stub = _stub(server)
    with channel:
        first = _send(stub, "first")
        plugin.wait_entered()
        late = _send(stub, "late", timeout=0.5)
        with pytest.raises(grpc.RpcError) as expired:
            late.result()
        assert expired.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

        plugin.gate.set()
        assert first.result().output == "first"
        wait_for(
            lambda: _metric(server, "drucker_dropped_requests_total", reason="deadline") == 1,
            "the late request dropped",
        )
        assert _send(stub, "after").result().output == "after"  # the server still serves
    assert plugin.inputs == ["first", "after"]
    _queued(server, 0)


CALL_SECONDS = 0.4  # the timed plugin's call


@pytest.fixture(params=["threads", "batcher"])
def timed(request: pytest.FixtureRequest, echo_model: Path) -> Iterator[tuple[Any, Any]]:
    """A started server whose plugin takes ``CALL_SECONDS`` a call, and the plugin."""
    plugin_type = TimedPredictor if request.param == "threads" else TimedBatchPredictor
    plugin = plugin_type(CALL_SECONDS)
    with _server(plugin, echo_model) as server:
        yield server, plugin


def test_a_request_whose_deadline_is_nearer_than_the_call_time_never_reaches_the_plugin(
    timed: tuple[Any, Any],
) -> None:
    server, plugin = timed
    channel, stub = _stub(server)
    with channel:
        for n in range(2):  # the call time is measured: CALL_SECONDS
            assert _send(stub, f"warm-{n}").result().output == f"warm-{n}"
            plugin.wait_entered()
        first = _send(stub, "first")
        plugin.wait_entered()  # "first" runs: the next ones wait about CALL_SECONDS
        # Its deadline is half a call away from the moment "first" ends: it cannot finish.
        short = _send(stub, "short", timeout=1.5 * CALL_SECONDS)
        ample = _send(stub, "ample", timeout=30)
        _queued(server, 2)
        with pytest.raises(grpc.RpcError) as dropped:
            short.result()
        assert dropped.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert first.result().output == "first"
        assert ample.result().output == "ample"
    assert "short" not in plugin.inputs
    assert plugin.inputs == ["warm-0", "warm-1", "first", "ample"]
    assert _metric(server, "drucker_dropped_requests_total", reason="deadline") == 1
    _queued(server, 0)


def _predict_in_attempts(how: str, target: str, attempt: float, text: str) -> str:
    """The label ``text`` gets through the SDK or ``drucker predict`` with ``attempt``."""
    if how == "sdk":
        with Client(target, max_attempts=3, timeout=30, attempt_timeout=attempt) as client:
            return client.predict(text, output="String").label
    command = ["predict", json.dumps(text), "--target", target, "--attempt-timeout", str(attempt)]
    result = CliRunner().invoke(main, [*command, "--output", "String"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["label"])


@pytest.mark.parametrize("how", ["sdk", "cli"])
def test_an_attempt_dropped_for_its_own_deadline_is_tried_again_and_predicted_once(
    timed: tuple[Any, Any], how: str
) -> None:
    """An attempt queued behind a running call has too little of its own deadline left for
    a call when its turn comes: dropped, never predicted. The next attempt has a whole
    attempt deadline again, more than a call: answered, one prediction in all."""
    server, plugin = timed
    channel, stub = _stub(server)
    with channel:
        assert _send(stub, "warm").result().output == "warm"  # the call time is measured
        plugin.wait_entered()
        first = _send(stub, "first")
        plugin.wait_entered()  # "first" runs: an attempt now waits about CALL_SECONDS
        assert _predict_in_attempts(how, server.target, 1.2 * CALL_SECONDS, "again") == "again"
        assert first.result().output == "first"
    assert plugin.inputs == ["warm", "first", "again"]
    assert _metric(server, "drucker_dropped_requests_total", reason="deadline") == 1


def test_a_cancelled_request_never_reaches_the_plugin(gated: tuple[Any, Any]) -> None:
    server, plugin = gated
    channel, stub = _stub(server)
    with channel:
        first = _send(stub, "first")
        plugin.wait_entered()
        gone = _send(stub, "gone")
        _queued(server, 1)
        gone.cancel()
        wait_for(
            lambda: _metric(server, "drucker_dropped_requests_total", reason="cancelled") == 1,
            "the cancelled request dropped",
        )
        plugin.gate.set()
        assert first.result().output == "first"
        assert _send(stub, "after").result().output == "after"
    assert plugin.inputs == ["first", "after"]
    assert _metric(server, "drucker_queue_wait_seconds_count") >= 2


def test_the_sdk_waits_the_pushback_before_it_retries(gated: tuple[Any, Any]) -> None:
    server, plugin = gated
    channel, stub = _stub(server)
    with channel, Client(server.target, max_attempts=3, timeout=30) as client:
        first, waiting = _fill(server, plugin, stub)
        answers: list[Any] = []
        retried = threading.Thread(target=lambda: answers.append(client.predict("retried")))
        retried.start()
        wait_for(
            lambda: _metric(server, "drucker_refused_requests_total", reason="queue_full") == 1,
            "the first attempt refused",
        )
        refused_at = time.monotonic()
        plugin.gate.set()  # the queue drains at once; the retry comes after the pushback
        retried.join(30)
        assert answers and answers[0].label == "retried"
        assert first.result().output == "first"
        assert all(call.result() for call in waiting)
    # Nothing was measured draining yet: the pushback is the unmeasured one (a second or
    # more), against gRPC's own first backoff of at most 0.1 s.
    retry_at = plugin.arrivals[plugin.inputs.index("retried")]
    assert retry_at - refused_at >= UNMEASURED_PUSHBACK_MS / 1000 / 2
    assert _metric(server, "drucker_refused_requests_total", reason="queue_full") == 1


def test_the_sdk_spends_the_call_s_deadline_not_one_per_attempt(gated: tuple[Any, Any]) -> None:
    """A refusal whose pushback (here the unmeasured one, a second or more) comes after the
    call's deadline ends the call at that deadline: no attempt runs past it, and none gets a
    deadline of its own. The signature read of a ``predict`` without ``output`` spends the
    same deadline."""
    server, plugin = gated
    channel, stub = _stub(server)
    timeout = 0.5
    with channel, Client(server.target, max_attempts=5, timeout=30) as client:
        first, waiting = _fill(server, plugin, stub)
        for output in ("String", None):
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.predict("late", output=output, timeout=timeout)
            took = time.monotonic() - started
            assert timeout * 0.9 <= took < timeout + 0.4, took
        plugin.gate.set()
        assert first.result().output == "first"
        assert all(call.result() for call in waiting)
    assert "late" not in plugin.inputs
    # one refused attempt per call: the retries waited for a pushback past the deadline
    assert _metric(server, "drucker_refused_requests_total", reason="queue_full") == 2


def test_with_an_attempt_timeout_the_retry_after_a_long_pushback_gets_a_fresh_deadline(
    gated: tuple[Any, Any],
) -> None:
    """The same refusal as above, with ``attempt_timeout``: the pushback (a second or more)
    is waited between attempts, and the next attempt has its own deadline: answered."""
    server, plugin = gated
    channel, stub = _stub(server)
    attempt = 0.5
    with (
        channel,
        Client(server.target, max_attempts=3, timeout=30, attempt_timeout=attempt) as client,
    ):
        first, waiting = _fill(server, plugin, stub)
        answers: list[Any] = []
        returning = threading.Thread(target=lambda: answers.append(client.predict("back")))
        returning.start()
        wait_for(
            lambda: _metric(server, "drucker_refused_requests_total", reason="queue_full") == 1,
            "the first attempt refused",
        )
        refused_at = time.monotonic()
        plugin.gate.set()
        returning.join(30)
        assert answers and answers[0].label == "back"
        assert first.result().output == "first"
        assert all(call.result() for call in waiting)
    retry_at = plugin.arrivals[plugin.inputs.index("back")]
    assert retry_at - refused_at >= max(attempt, UNMEASURED_PUSHBACK_MS / 1000 / 2)
    assert plugin.inputs.count("back") == 1


def test_the_call_s_timeout_still_bounds_all_its_attempts(gated: tuple[Any, Any]) -> None:
    server, plugin = gated
    channel, stub = _stub(server)
    with channel, Client(server.target, max_attempts=5, timeout=30, attempt_timeout=0.2) as client:
        first = _send(stub, "first")
        plugin.wait_entered()
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.predict("never", output="String", timeout=0.5)
        took = time.monotonic() - started
        assert 0.45 <= took < 0.9, took
        plugin.gate.set()
        assert first.result().output == "first"
    assert "never" not in plugin.inputs


@pytest.fixture
def rest_held(echo_model: Path) -> Iterator[tuple[ThreadedServer, GatedPredictor, Any]]:
    """A server with V2 REST whose plugin holds a first gRPC request (the ``stub``'s)."""
    plugin = GatedPredictor()
    with _server(plugin, echo_model, http=True) as server:
        channel, stub = _stub(server)
        try:
            with channel:
                first = _send(stub, "first")
                plugin.wait_entered()
                yield server, plugin, stub
                plugin.gate.set()
                assert first.result().output == "first"
        finally:
            plugin.gate.set()


def test_rest_answers_429_with_retry_after_when_the_queue_is_full(
    rest_held: tuple[ThreadedServer, GatedPredictor, Any],
) -> None:
    server, plugin, stub = rest_held
    waiting = [_send(stub, f"waiting-{n}") for n in range(MAX_WAITING)]
    _queued(server, MAX_WAITING)
    status, headers, body = _infer(server, {})
    assert status == 429, body
    assert int(headers["retry-after"]) >= 1
    assert "admission.max_waiting" in body["error"]
    plugin.gate.set()
    assert [call.result().output for call in waiting] == ["waiting-0", "waiting-1"]
    assert plugin.inputs == ["first", "waiting-0", "waiting-1"]


def test_rest_timeout_parameter_and_header_give_the_request_a_deadline(
    rest_held: tuple[ThreadedServer, GatedPredictor, Any],
) -> None:
    server, plugin, _ = rest_held
    # 1 microsecond: past before the prediction can start
    status, _, body = _infer(server, {"parameters": {"timeout": 1}})
    assert status == 504, body
    status, _, body = _infer(server, {}, {"Request-Timeout": "0.000001"})
    assert status == 504, body
    status, _, body = _infer(server, {}, {"Request-Timeout": "soon"})
    assert status == 400 and "Request-Timeout" in body["error"]
    status, _, body = _infer(server, {"parameters": {"timeout": -5}})
    assert status == 400 and "microseconds" in body["error"]
    assert plugin.inputs == ["first"]
    assert _metric(server, "drucker_refused_requests_total", reason="deadline") == 2


def _infer(
    server: ThreadedServer, extra: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    request = {
        "inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["rest"]}],
        **extra,
    }
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        connection.request(
            "POST",
            f"/v2/models/{MODEL}/infer",
            body=json.dumps(request),
            headers={"content-type": "application/json", **(headers or {})},
        )
        reply = connection.getresponse()
        body = json.loads(reply.read() or b"{}")
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, body
    finally:
        connection.close()


def test_a_rest_client_that_disconnects_while_queued_is_never_predicted_for(
    rest_held: tuple[ThreadedServer, GatedPredictor, Any],
) -> None:
    server, plugin, stub = rest_held
    body = json.dumps(
        {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["gone"]}]}
    ).encode()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(
            f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        _queued(server, 1)
    wait_for(
        lambda: _metric(server, "drucker_dropped_requests_total", reason="cancelled") == 1,
        "the disconnected request dropped",
    )
    _queued(server, 0)
    plugin.gate.set()
    assert _send(stub, "after").result().output == "after"
    assert plugin.inputs == ["first", "after"]
