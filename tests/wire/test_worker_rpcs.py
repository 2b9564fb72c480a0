"""All 25 DruckerWorker rpcs over a real channel, and their error statuses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import grpc
import pytest

from drucker.kinds import Kind
from tests.calls import SAMPLE_INPUTS, call
from tests.plugins.echo_plugin import echo
from tests.serving import ThreadedServer, loading

PAIRS = [(i, o) for i in Kind for o in Kind]


@pytest.fixture(scope="module")
def channel(echo_server: ThreadedServer) -> Any:
    with echo_server.channel() as channel:
        yield channel


@pytest.mark.parametrize(("input_kind", "output_kind"), PAIRS, ids=lambda k: k.wire_name)
def test_every_rpc_answers(channel: grpc.Channel, input_kind: Kind, output_kind: Kind) -> None:
    value = SAMPLE_INPUTS[input_kind]
    answer = call(channel, input_kind, output_kind, value)
    assert answer.label == echo(value, output_kind)
    expected_score = [0.5] * len(answer.label) if output_kind.is_array else 0.5
    assert answer.score == expected_score
    assert json.loads(answer.option) == {"model": "echo-a", "pid": os.getpid()}


def test_concrete_answers(channel: grpc.Channel) -> None:
    assert call(channel, Kind.ARR_FLOAT, Kind.ARR_INT, [1.5, 2.5]).label == [1, 2]
    assert call(channel, Kind.STRING, Kind.ARR_STRING, "a,b").label == ["a", "b"]
    assert call(channel, Kind.ARR_INT, Kind.BYTES, [7, 8]).label == b"7,8"


@pytest.mark.parametrize("output_kind", [Kind.STRING, Kind.BYTES], ids=lambda k: k.wire_name)
def test_streamed_bytes_input_joins_every_chunk(channel: grpc.Channel, output_kind: Kind) -> None:
    answer = call(channel, Kind.BYTES, output_kind, None, chunks=[b"10,", b"20,", b"30"])
    assert answer.label == echo(b"10,20,30", output_kind)


def test_large_bytes_output_streams_in_chunks(channel: grpc.Channel) -> None:
    payload = bytes(range(256)) * (3 * 4096 + 17)  # a little over 3 MiB
    step = 1 << 20
    chunks = [payload[i : i + step] for i in range(0, len(payload), step)]
    answer = call(channel, Kind.BYTES, Kind.BYTES, None, chunks=chunks)
    assert answer.label == payload
    assert answer.messages == 4


@pytest.mark.parametrize("option", ["", "{}", "  "])
def test_absent_or_empty_option_is_an_empty_dict(channel: grpc.Channel, option: str) -> None:
    assert call(channel, Kind.STRING, Kind.STRING, "x", option).label == "x"


@pytest.mark.parametrize(
    ("option", "code", "message"),
    [
        ("{not json", grpc.StatusCode.INVALID_ARGUMENT, "option is not valid JSON"),
        ("[1, 2]", grpc.StatusCode.INVALID_ARGUMENT, "option must be a JSON object"),
        ('{"raise": "value"}', grpc.StatusCode.INVALID_ARGUMENT, "echo refuses this input"),
        ('{"raise": "runtime"}', grpc.StatusCode.INTERNAL, "RuntimeError: echo broke"),
        ('{"label": "abc"}', grpc.StatusCode.INVALID_ARGUMENT, "ArrInt output needs integers"),
        ('{"label": [1, 2], "score": [1]}', None, ""),
    ],
)
@pytest.mark.parametrize("input_kind", [Kind.ARR_FLOAT, Kind.BYTES], ids=lambda k: k.wire_name)
def test_error_statuses(
    channel: grpc.Channel,
    input_kind: Kind,
    option: str,
    code: grpc.StatusCode | None,
    message: str,
) -> None:
    value = SAMPLE_INPUTS[input_kind]
    if code is None:
        assert call(channel, input_kind, Kind.ARR_INT, value, option).label == [1, 2]
        return
    with pytest.raises(grpc.RpcError) as caught:
        call(channel, input_kind, Kind.ARR_INT, value, option)
    assert caught.value.code() is code
    assert message in caught.value.details()


def test_label_that_does_not_fit_a_scalar_output(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(channel, Kind.STRING, Kind.STRING, "x", '{"label": [1, 2]}')
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "needs exactly one" in caught.value.details()


def test_plugin_failure_is_logged_with_its_traceback(echo_server: ThreadedServer) -> None:
    with echo_server.channel() as channel, pytest.raises(grpc.RpcError):
        call(channel, Kind.STRING, Kind.STRING, "x", '{"raise": "runtime"}')
    records = [json.loads(line) for line in echo_server.log.getvalue().splitlines()]
    failures = [r for r in records if "plugin predict failed" in r["short_message"]]
    assert failures and "Traceback" in failures[-1]["traceback"]
    assert "RuntimeError: echo broke" in failures[-1]["traceback"]


def test_suppress_log_input_keeps_input_and_output_out_of_the_log(
    echo_server: ThreadedServer,
) -> None:
    with echo_server.channel() as channel:
        call(channel, Kind.STRING, Kind.STRING, "visible-secret-1")
        call(channel, Kind.STRING, Kind.STRING, "hidden-secret-2", '{"suppress_log_input": true}')
    log = echo_server.log.getvalue()
    assert "visible-secret-1" in log
    assert "hidden-secret-2" not in log
    records = [json.loads(line) for line in log.splitlines()]
    predictions = [r for r in records if r["short_message"] == "Predict_String_String"]
    assert predictions[-1]["suppressed"] is True
    assert {"host", "timestamp", "level", "service", "ml_service", "service_level"} <= set(
        predictions[-1]
    )


def test_no_model_loaded_is_unavailable(echo_model: Path) -> None:
    with loading(echo_model) as (server, plugin, channel):
        with pytest.raises(grpc.RpcError) as caught:
            call(channel, Kind.STRING, Kind.STRING, "x")
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "no model is loaded" in caught.value.details()
        plugin.release.set()
        server.wait_ready()
        assert call(channel, Kind.STRING, Kind.STRING, "x").label == echo_model.name
