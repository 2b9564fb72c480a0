"""The standard library's logging bridged into drucker's structured log; level and format."""

from __future__ import annotations

import io
import json
import logging
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from drucker.events import EventLog, Level, PredictionEvent, ServiceIdentity
from drucker.kinds import Kind
from drucker.observability import bridge_logging
from drucker.plugins import new_plugin_manager
from tests.calls import call
from tests.serving import ServeProcess, free_port

LOGGING_PLUGIN = textwrap.dedent(
    """
    import logging

    import drucker

    log = logging.getLogger("shop.model")


    @drucker.hookimpl
    def drucker_load_model(model_path):
        log.info("loaded %s", "shop-model", extra={"rows": 3})
        return "model"


    @drucker.hookimpl
    def drucker_predict(model, input, option, output_kind):
        log.debug("predicting %s", input)
        log.warning("odd input %s", input)
        return drucker.PredictResult(label=input, score=1.0)
    """
)


def serve_with_logging_plugin(tmp_path: Path, env: dict[str, str]) -> str:
    """Run the plugin in ``drucker serve``, predict once, stop; return standard error."""
    plugin = tmp_path / "shop_plugin.py"
    plugin.write_text(LOGGING_PLUGIN)
    model = tmp_path / "shop.model"
    model.write_text("shop")
    port = free_port()
    server = ServeProcess(
        ["--plugin", str(plugin), "--model", str(model), "--port", str(port)],
        cwd=tmp_path,
        env=env,
    )
    try:
        server.wait_serving(port)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert call(channel, Kind.STRING, Kind.STRING, "peculiar").label == "peculiar"
    finally:
        assert server.terminate() == 0, server.stderr
    return server.stderr


def test_plugin_log_lines_become_structured_records(tmp_path: Path) -> None:
    env = {"DRUCKER_APPLICATION_NAME": "shop", "DRUCKER_METRICS_PORT": str(free_port())}
    stderr = serve_with_logging_plugin(tmp_path, env)
    records = [json.loads(line) for line in stderr.splitlines()]  # uvicorn's lines too
    by_message = {record["short_message"]: record for record in records}
    loaded = by_message["loaded shop-model"]
    assert loaded["logger"] == "shop.model"
    assert loaded["rows"] == 3
    assert loaded["level"] == 6  # syslog "informational", as 0.4.5 wrote levels
    assert loaded["ml_service"] == "shop" and loaded["service"] == "drucker"
    assert by_message["odd input peculiar"]["level"] == 4
    assert "predicting peculiar" not in by_message  # debug is below the default level
    assert by_message["Predict_String_String"]["ml_output"] == "peculiar"


def test_text_format_and_warning_level(tmp_path: Path) -> None:
    stderr = serve_with_logging_plugin(
        tmp_path, {"DRUCKER_LOG_FORMAT": "text", "DRUCKER_LOG_LEVEL": "warning"}
    )
    lines = stderr.splitlines()
    assert lines, stderr
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
    assert all(re.match(stamp + r" (WARNING|ERROR) ", line) for line in lines), lines
    assert any(
        re.fullmatch(stamp + r" WARNING odd input peculiar logger=shop\.model", line)
        for line in lines
    ), lines
    assert not any("serving on port" in line for line in lines)  # info is below warning


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def event_log(stream: io.StringIO, text: bool = False) -> EventLog:
    from drucker_jsonlog import log_plugin

    plugins = new_plugin_manager()
    plugins.register(log_plugin("text" if text else "json", stream, Level.DEBUG))
    return EventLog(plugins.hook.drucker_log, ServiceIdentity("host", "app", "svc", "development"))


def test_exceptions_keep_their_traceback(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    bridge_logging(event_log(stream), Level.DEBUG)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("shop").exception("it failed")
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["short_message"] == "it failed" and record["level"] == 3
    assert "RuntimeError: boom" in record["traceback"]


def test_text_lines_of_predictions_and_suppressed_inputs() -> None:
    stream = io.StringIO()
    log = event_log(stream, text=True)
    for suppressed in (False, True):
        log.emit(
            PredictionEvent(
                service=log.service,
                input_kind=Kind.ARR_FLOAT.wire_name,
                output_kind=Kind.STRING.wire_name,
                input=None if suppressed else [1.5, 2.0],
                output=None if suppressed else "setosa",
                score=None if suppressed else 0.9,
                suppressed=suppressed,
                latency_seconds=0.0012,
            )
        )
    shown, hidden = stream.getvalue().splitlines()
    assert shown.endswith(
        " INFO    Predict_ArrFloat_String input=[1.5, 2.0] output=setosa score=0.9 latency_ms=1.200"
    ), shown
    assert hidden.endswith(
        " INFO    Predict_ArrFloat_String (input and output suppressed) latency_ms=1.200"
    ), hidden
