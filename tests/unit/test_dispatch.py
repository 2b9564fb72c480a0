"""The dispatcher and the batcher built directly, synchronised by events (no sleeps, no clocks)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import drucker
from drucker.batching import MAX_LANES, Batcher
from drucker.dispatch import INLINE_MAX_ROWS, Dispatcher
from drucker.errors import InvalidInputError, ModelNotLoadedError
from drucker.kinds import Kind
from drucker.placement import WINDOW
from drucker.types import PredictResult
from tests.core import runtime

STRING = (Kind.STRING, Kind.STRING)


class Gated:
    """A batch plugin whose first batch call waits until the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.threads: set[str] = set()

    @drucker.hookimpl
    def drucker_predict(self, input: Any) -> PredictResult:
        self.threads.add(threading.current_thread().name)
        if input == "bad":
            raise ValueError("bad input")
        return PredictResult(label=f"one:{input}", score=1.0)

    @drucker.hookimpl
    def drucker_predict_batch(self, inputs: list[Any]) -> list[PredictResult]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(inputs))
        self.entered.set()
        if len(self.batches) == 1:
            assert self.gate.wait(30), "the test never opened the gate"
        if "bad" in inputs:
            raise ValueError("a bad input spoils the batch")
        return [PredictResult(label=f"batch:{value}", score=0.5) for value in inputs]


def batcher(tmp_path: Path, inline: bool, wait: float = 0.0) -> tuple[Batcher, Gated]:
    plugin = Gated()
    rt, _ = runtime(plugin, tmp_path)
    return Batcher(rt, max_size=8, max_wait_seconds=wait, inline=inline), plugin


def test_requests_that_queue_behind_a_batch_form_the_next_ones(tmp_path: Path) -> None:
    queue, plugin = batcher(tmp_path, inline=False)

    async def run() -> list[PredictResult]:
        first = asyncio.ensure_future(queue.predict("first", {}, *STRING))
        await asyncio.get_running_loop().run_in_executor(None, plugin.entered.wait, 30)
        rest = [asyncio.ensure_future(queue.predict(f"r{i}", {}, *STRING)) for i in range(12)]
        await asyncio.sleep(0)  # let them queue (one loop turn, not a wait for time)
        plugin.gate.set()
        return await asyncio.gather(first, *rest)

    answers = asyncio.run(run())
    queue.close()
    assert [a.label for a in answers] == ["batch:first"] + [f"batch:r{i}" for i in range(12)]
    assert [len(batch) for batch in plugin.batches] == [1, 8, 4]  # max_size 8


def test_inline_batches_gather_what_one_loop_turn_brought(tmp_path: Path) -> None:
    queue, plugin = batcher(tmp_path, inline=True)
    plugin.gate.set()

    async def run() -> list[PredictResult]:
        return await asyncio.gather(*(queue.predict(f"x{i}", {}, *STRING) for i in range(5)))

    answers = asyncio.run(run())
    assert [a.label for a in answers] == [f"batch:x{i}" for i in range(5)]
    assert plugin.batches == [[f"x{i}" for i in range(5)]]
    assert plugin.threads == {threading.main_thread().name}


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
def test_a_bad_input_fails_only_its_own_request(tmp_path: Path, inline: bool) -> None:
    queue, plugin = batcher(tmp_path, inline=inline)
    plugin.gate.set()

    async def run() -> list[Any]:
        calls = [queue.predict(text, {}, *STRING) for text in ("a", "bad", "c")]
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(run())
    queue.close()
    assert answers[0] == PredictResult("one:a", 1.0)
    assert isinstance(answers[1], InvalidInputError)
    assert answers[2] == PredictResult("one:c", 1.0)


def test_a_lone_caller_never_pauses(tmp_path: Path) -> None:
    """With an hour's pause configured, one request at a time is still answered at once."""
    queue, plugin = batcher(tmp_path, inline=True, wait=3600)
    plugin.gate.set()

    async def run() -> list[str]:
        labels = []
        for index in range(5):
            call = queue.predict(f"s{index}", {}, *STRING)
            labels.append((await asyncio.wait_for(call, 30)).label)
        return labels

    assert asyncio.run(run()) == [f"batch:s{index}" for index in range(5)]
    assert [len(batch) for batch in plugin.batches] == [1] * 5


def test_a_request_cancelled_while_queued_is_left_out(tmp_path: Path) -> None:
    queue, plugin = batcher(tmp_path, inline=False)

    async def run() -> list[Any]:
        first = asyncio.ensure_future(queue.predict("first", {}, *STRING))
        await asyncio.get_running_loop().run_in_executor(None, plugin.entered.wait, 30)
        gone = asyncio.ensure_future(queue.predict("gone", {}, *STRING))
        kept = asyncio.ensure_future(queue.predict("kept", {}, *STRING))
        await asyncio.sleep(0)
        gone.cancel()
        plugin.gate.set()
        return await asyncio.gather(first, kept)

    answers = asyncio.run(run())
    queue.close()
    assert [a.label for a in answers] == ["batch:first", "batch:kept"]
    assert plugin.batches == [["first"], ["kept"]]


class Plain:
    """A plugin without a batch hook that records the thread each prediction ran in."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    @drucker.hookimpl
    def drucker_predict(self, input: Any) -> PredictResult:
        self.threads.append(threading.current_thread().name)
        if input == "bad":
            raise ValueError("bad input")
        return PredictResult(label=str(input).upper(), score=1.0)


def test_the_dispatcher_runs_predictions_in_threads_or_on_the_loop(tmp_path: Path) -> None:
    for threads, expected in ((2, "drucker-predict"), (0, threading.main_thread().name)):
        plugin = Plain()
        rt, _ = runtime(plugin, tmp_path, predict_threads=threads)
        dispatcher = Dispatcher(rt)
        assert not dispatcher.batching
        answer = asyncio.run(dispatcher.predict("a", {}, *STRING))
        dispatcher.close()
        assert answer.label == "A"
        assert plugin.threads[0].startswith(expected)


def test_the_dispatcher_batches_only_plugins_with_a_batch_hook(tmp_path: Path) -> None:
    rt, _ = runtime(Gated(), tmp_path)
    assert Dispatcher(rt).batching
    assert not Dispatcher(runtime(Gated(), tmp_path, batching=False)[0]).batching


def test_many_rows_go_to_the_batch_hook_in_one_call(tmp_path: Path) -> None:
    plugin = Gated()
    plugin.gate.set()
    rt, _ = runtime(plugin, tmp_path)
    dispatcher = Dispatcher(rt)
    rows = [f"r{i}" for i in range(500)]
    answers = asyncio.run(dispatcher.predict_rows(rows, {}, *STRING))
    dispatcher.close()
    assert [a.label for a in answers] == [f"batch:{row}" for row in rows]
    assert [len(batch) for batch in plugin.batches] == [500]


def test_a_big_request_leaves_the_loop_even_without_threads(tmp_path: Path) -> None:
    plugin = Plain()
    rt, _ = runtime(plugin, tmp_path, predict_threads=0)
    dispatcher = Dispatcher(rt)
    small = asyncio.run(dispatcher.predict_rows(["a", "b"], {}, *STRING))
    big = asyncio.run(dispatcher.predict_rows(["c"] * (INLINE_MAX_ROWS + 1), {}, *STRING))
    assert [a.label for a in small] == ["A", "B"] and len(big) == INLINE_MAX_ROWS + 1
    main = threading.main_thread().name
    assert plugin.threads[:2] == [main, main]
    assert main not in plugin.threads[2:]
    with pytest.raises(InvalidInputError):
        asyncio.run(dispatcher.predict_rows(["a", "bad"], {}, *STRING))


def run_in_turn(dispatcher: Dispatcher, inputs: list[str]) -> list[PredictResult]:
    """Predict one input after the other (each call measured before the next starts)."""

    async def run() -> list[PredictResult]:
        return [await dispatcher.predict(value, {}, *STRING) for value in inputs]

    return asyncio.run(run())


# Limits that make every call quick, or every call slow, however busy the machine is.
A_MINUTE_MS, A_NANOSECOND_MS = 60_000.0, 1e-6


def test_a_quick_model_moves_to_the_loop_after_a_window_in_threads(tmp_path: Path) -> None:
    plugin = Plain()
    rt, _ = runtime(plugin, tmp_path, predict_threads=2, loop_predict_ms=A_MINUTE_MS)
    dispatcher = Dispatcher(rt)
    answers = run_in_turn(dispatcher, [f"q{i}" for i in range(WINDOW + 3)])
    assert [a.label for a in answers] == [f"Q{i}" for i in range(WINDOW + 3)]
    assert all(name.startswith("drucker-predict") for name in plugin.threads[:WINDOW])
    assert plugin.threads[WINDOW:] == [threading.main_thread().name] * 3
    rt.activate(rt.load_model(None, "another"))  # a switched model is measured afresh
    run_in_turn(dispatcher, ["after switch"])
    dispatcher.close()
    assert plugin.threads[-1].startswith("drucker-predict")


@pytest.mark.parametrize("limit", [A_NANOSECOND_MS, 0.0], ids=["slow-model", "adaptive-off"])
def test_a_slow_model_stays_in_threads(tmp_path: Path, limit: float) -> None:
    plugin = Plain()
    rt, _ = runtime(plugin, tmp_path, predict_threads=2, loop_predict_ms=limit)
    dispatcher = Dispatcher(rt)
    run_in_turn(dispatcher, [f"s{i}" for i in range(3 * WINDOW)])
    dispatcher.close()
    assert all(name.startswith("drucker-predict") for name in plugin.threads)


def test_quick_batches_move_to_the_loop(tmp_path: Path) -> None:
    plugin = Gated()
    plugin.gate.set()
    rt, _ = runtime(plugin, tmp_path, predict_threads=2, loop_predict_ms=A_MINUTE_MS)
    dispatcher = Dispatcher(rt)
    answers = run_in_turn(dispatcher, [f"b{i}" for i in range(WINDOW + 2)])
    dispatcher.close()
    assert [a.label for a in answers] == [f"batch:b{i}" for i in range(WINDOW + 2)]
    assert len(plugin.batches) == WINDOW + 2  # one at a time: batches of one
    assert threading.main_thread().name in plugin.threads
    assert any(name.startswith("drucker-batch") for name in plugin.threads)


def test_quick_multi_row_requests_move_to_the_loop(tmp_path: Path) -> None:
    plugin = Plain()
    rt, _ = runtime(plugin, tmp_path, predict_threads=2, loop_predict_ms=A_MINUTE_MS)
    dispatcher = Dispatcher(rt)

    async def run() -> None:
        for index in range(WINDOW + 1):
            await dispatcher.predict_rows([f"m{index}", "x"], {}, *STRING)

    asyncio.run(run())
    dispatcher.close()
    assert all(name.startswith("drucker-predict") for name in plugin.threads[: 2 * WINDOW])
    assert plugin.threads[2 * WINDOW :] == [threading.main_thread().name] * 2


def test_a_draining_dispatcher_refuses_new_predictions(tmp_path: Path) -> None:
    plugin = Plain()
    rt, _ = runtime(plugin, tmp_path)
    dispatcher = Dispatcher(rt)
    assert asyncio.run(dispatcher.predict("a", {}, *STRING)).label == "A"
    dispatcher.drain()
    for call in (
        dispatcher.predict("b", {}, *STRING),
        dispatcher.predict_rows(["b", "c"], {}, *STRING),
    ):
        with pytest.raises(ModelNotLoadedError, match="shutting down"):
            asyncio.run(call)
    dispatcher.close()
    assert len(plugin.threads) == 1


def test_idle_lanes_are_forgotten_so_new_groups_cannot_grow_the_batcher(tmp_path: Path) -> None:
    queue, plugin = batcher(tmp_path, inline=True)
    plugin.gate.set()

    async def scenario() -> list[PredictResult]:
        return [
            await queue.predict(str(index), {}, *STRING, group=("width", index))
            for index in range(10 * MAX_LANES)
        ]

    answers = asyncio.run(scenario())
    assert [answer.label for answer in answers] == [f"batch:{i}" for i in range(10 * MAX_LANES)]
    assert len(queue._lanes) <= MAX_LANES
