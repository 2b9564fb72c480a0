"""The JSON-lines log plugin: the 0.4.5 fields, prediction lines written in bunches off the
request's path (by the event loop that queued them, or by a background thread)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from typing import Any

import numpy as np
from drucker_jsonlog import JsonLinesLog
from drucker_jsonlog.writer import BackgroundWriter

from drucker.events import Level, PredictionEvent, ServiceIdentity, SystemEvent
from tests.polling import wait_for

SERVICE = ServiceIdentity("host-1", "iris", "iris-dev", "development")


def prediction(value: Any, suppressed: bool = False) -> PredictionEvent:
    return PredictionEvent(
        SERVICE,
        "ArrFloat",
        "String",
        None if suppressed else value,
        None if suppressed else "setosa",
        None if suppressed else 0.9,
        suppressed,
        0.0012,
    )


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_prediction_line_has_the_045_fields() -> None:
    stream = io.StringIO()
    JsonLinesLog(stream).drucker_log(prediction([5.1, 3.5]))
    (line,) = lines(stream)
    assert line["host"] == "host-1" and line["service"] == "drucker"
    assert line["ml_service"] == "iris" and line["service_level"] == "development"
    assert line["level"] == 6 and line["short_message"] == "Predict_ArrFloat_String"
    assert line["ml_input"] == [5.1, 3.5] and line["ml_output"] == "setosa"
    assert line["ml_score"] == 0.9 and line["latency_ms"] == 1.2


def test_an_arrfloat_input_is_written_at_the_wires_32_bit_precision() -> None:
    """The Drucker protocol carried the input as float32: 13.4, not 13.399999618530273."""
    carried = [float(np.float32(13.4)), float(np.float32(0.1))]
    assert carried[0] == 13.399999618530273
    stream = io.StringIO()
    JsonLinesLog(stream).drucker_log(prediction(carried))
    assert lines(stream)[0]["ml_input"] == [13.4, 0.1]


def test_suppressed_input_is_not_written() -> None:
    stream = io.StringIO()
    JsonLinesLog(stream).drucker_log(prediction([1.0], suppressed=True))
    (line,) = lines(stream)
    assert line["suppressed"] is True
    assert line["ml_input"] is None and line["ml_output"] is None


def test_values_json_cannot_hold_are_written_as_text() -> None:
    stream = io.StringIO()
    record = SystemEvent(SERVICE, Level.ERROR, "odd", {"big": 2**70, "when": object})
    JsonLinesLog(stream).drucker_log(record)
    (line,) = lines(stream)
    assert line["big"] == 2**70 and line["when"] == str(object)
    assert line["short_message"] == "odd" and line["level"] == 3


def test_background_lines_come_in_order_and_a_system_event_writes_what_was_queued() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream, background=True)
    for index in range(5):
        log.drucker_log(prediction([float(index)]))
    log.drucker_log(SystemEvent(SERVICE, Level.INFO, "stopped"))
    written = lines(stream)  # no flush: the system event wrote everything before itself
    assert [line.get("ml_input") for line in written] == [[0.0], [1.0], [2.0], [3.0], [4.0], None]
    assert written[-1]["short_message"] == "stopped"


def test_the_background_thread_writes_queued_lines_without_being_asked() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream, background=True)
    log.drucker_log(prediction([1.5]))
    wait_for(lambda: bool(stream.getvalue()), "the writer thread")
    assert [line["ml_input"] for line in lines(stream)] == [[1.5]]


class Recorder(io.StringIO):
    """A stream that records which thread wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[str] = []

    def write(self, text: str) -> int:
        self.writers.append(threading.current_thread().name)
        return super().write(text)


def test_lines_queued_off_an_event_loop_are_written_by_the_writer_thread() -> None:
    stream = Recorder()
    log = JsonLinesLog(stream, background=True)
    for index in range(3):
        log.drucker_log(prediction([float(index)]))
    wait_for(lambda: len(lines(stream)) == 3, "three lines")
    assert stream.writers == ["drucker-log-writer"]  # one write for the three


def test_lines_queued_on_an_event_loop_are_written_by_that_loop_in_one_write() -> None:
    stream = Recorder()
    log = JsonLinesLog(stream, background=True)

    async def serve() -> None:
        for index in range(3):
            log.drucker_log(prediction([float(index)]))
        assert stream.getvalue() == ""  # queued, not written on the request's path
        while len(lines(stream)) < 3:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(serve(), 10))
    assert [line["ml_input"] for line in lines(stream)] == [[0.0], [1.0], [2.0]]
    assert stream.writers == [threading.current_thread().name]  # the loop's, no other thread
    assert log._writer is not None and log._writer._thread is None  # never started


def test_a_loop_that_stops_before_its_write_leaves_the_lines_to_the_next_loop() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream, background=True)

    async def queue_one(index: int) -> None:
        log.drucker_log(prediction([float(index)]))

    asyncio.run(queue_one(0))  # stops before its write is due
    assert stream.getvalue() == ""

    async def queue_and_wait() -> None:
        await queue_one(1)
        while len(lines(stream)) < 2:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(queue_and_wait(), 10))
    assert [line["ml_input"] for line in lines(stream)] == [[0.0], [1.0]]


def test_a_full_queue_is_written_by_the_caller_and_close_writes_the_rest() -> None:
    stream = io.StringIO()
    writer = BackgroundWriter(
        lambda value: str(value).encode(), lambda: stream, gather_seconds=3600, max_queued=3
    )
    for index in range(4):  # the fourth finds three waiting: the caller writes them all
        writer.queue(index)
    assert stream.getvalue() == "0\n1\n2\n3\n"
    writer.queue(4)
    writer.close()
    assert stream.getvalue().splitlines() == ["0", "1", "2", "3", "4"]
    writer.queue(5)  # after close, written at once
    assert stream.getvalue().splitlines()[-1] == "5"


def test_lines_go_to_the_binary_buffer_after_what_was_written_as_text() -> None:
    binary = io.BytesIO()
    stream = io.TextIOWrapper(binary, encoding="utf-8")
    log = JsonLinesLog(stream, background=True)
    stream.write("before\n")  # text still in the wrapper when the lines are written
    log.drucker_log(prediction(["caf\u00e9", 1.5]))
    log.flush()
    stream.write("after\n")
    stream.flush()
    first, line, last = binary.getvalue().decode("utf-8").splitlines()
    assert (first, last) == ("before", "after")
    assert json.loads(line)["ml_input"] == ["caf\u00e9", 1.5]


def test_a_big_input_is_shortened_before_it_is_queued() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream, background=True)
    log.drucker_log(prediction(b"x" * 100_000))
    assert all(isinstance(queued, bytes) for queued in log._writer._queued)  # type: ignore[union-attr]
    log.flush()
    (line,) = lines(stream)
    assert line["ml_input"] == "<100000 bytes>"


def test_a_long_input_is_cut_and_says_how_long_it_was() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream, background=True)
    log.drucker_log(prediction([0.5] * 5000))
    log.flush()
    (line,) = lines(stream)
    assert line["ml_input"][:2] == [0.5, 0.5] and line["ml_input"][-1] == "... <5000 items>"
    assert len(line["ml_input"]) == 2049


def test_tensor_rows_are_written_as_numbers_and_big_ones_formatted_at_once() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream, background=True)
    small = np.arange(8, dtype=np.float32).reshape(2, 4) / 4
    big = np.ones((64, 20), dtype=np.float32)
    log.drucker_log(prediction(small))
    log.drucker_log(prediction(big))
    queued = list(log._writer._queued)  # type: ignore[union-attr]
    assert [type(item).__name__ for item in queued] == ["PredictionEvent", "bytes"]
    log.flush()
    first, second = lines(stream)
    assert first["ml_input"] == small.tolist()
    assert second["ml_input"] == big.tolist()
