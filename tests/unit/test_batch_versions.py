"""Versions sharing one batcher: a batch makes one plugin call per version among its requests,
and a shadow's low requests go only into the room callers' requests leave."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import drucker
from drucker.batching import LOW_BATCH, Batcher
from drucker.dispatch import Dispatcher
from drucker.kinds import Kind
from drucker.types import PredictResult
from tests.core import runtime

STRING = (Kind.STRING, Kind.STRING)


class Versions:
    """A batch plugin whose model is its file's first line; it answers ``<model>:<input>``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> str:
        return Path(model_path).read_text().split()[0]

    @drucker.hookimpl
    def drucker_predict(self, model: str, input: Any) -> PredictResult:
        return PredictResult(label=f"{model}:{input}", score=1.0)

    @drucker.hookimpl
    def drucker_predict_batch(self, model: str, inputs: list[Any]) -> list[PredictResult]:
        self.calls.append((model, list(inputs)))
        if "bad" in inputs:
            raise ValueError("a bad input spoils the batch")
        return [PredictResult(label=f"{model}:{value}", score=0.5) for value in inputs]


def _canary(tmp_path: Path, plugin: Versions) -> Any:
    rt, _ = runtime(plugin, tmp_path)
    file = tmp_path / "canary"
    file.write_text("canary\n")
    return rt, rt.load_model(file, "canary")


def test_one_batch_makes_one_call_per_version_and_answers_each_by_its_own(
    tmp_path: Path,
) -> None:
    plugin = Versions()
    rt, canary = _canary(tmp_path, plugin)
    queue = Batcher(rt, max_size=16, max_wait_seconds=0.0, inline=True)

    async def run() -> list[PredictResult]:
        return await asyncio.gather(
            *(
                queue.predict(f"x{i}", {}, *STRING, None, None, canary if i % 3 == 0 else None)
                for i in range(7)
            )
        )

    answers = asyncio.run(run())
    queue.close()
    assert [a.label for a in answers] == [
        ("canary" if i % 3 == 0 else "test-model") + f":x{i}" for i in range(7)
    ]
    assert sorted(plugin.calls) == [
        ("canary", ["x0", "x3", "x6"]),
        ("test-model", ["x1", "x2", "x4", "x5"]),
    ]


def test_a_bad_input_of_one_version_fails_only_its_request(tmp_path: Path) -> None:
    plugin = Versions()
    rt, canary = _canary(tmp_path, plugin)
    queue = Batcher(rt, max_size=16, max_wait_seconds=0.0, inline=True)

    async def run() -> list[Any]:
        calls = [
            queue.predict("good", {}, *STRING),
            queue.predict("bad", {}, *STRING, None, None, canary),
            queue.predict("fine", {}, *STRING, None, None, canary),
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    good, bad, fine = asyncio.run(run())
    queue.close()
    assert good.label == "test-model:good" and fine.label == "canary:fine"
    assert "bad" in str(bad)


def test_low_requests_wait_for_the_room_callers_leave_and_gather(tmp_path: Path) -> None:
    plugin = Versions()
    rt, shadow = _canary(tmp_path, plugin)
    queue = Batcher(rt, max_size=64, max_wait_seconds=0.05, inline=True)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        lows = [
            loop.create_task(queue.predict(f"s{i}", {}, *STRING, None, None, shadow, True))
            for i in range(LOW_BATCH - 1)
        ]
        callers = [queue.predict(f"c{i}", {}, *STRING) for i in range(3)]
        assert [a.label for a in await asyncio.gather(*callers)] == [
            f"test-model:c{i}" for i in range(3)
        ]
        # the callers' batch left the shadow requests (too few to be worth a call) waiting
        assert plugin.calls == [("test-model", ["c0", "c1", "c2"])]
        answers = await asyncio.gather(*lows)  # then a pass without callers takes them
        assert [a.label for a in answers] == [f"shadow:s{i}" for i in range(LOW_BATCH - 1)]

    file = tmp_path / "shadow"
    file.write_text("shadow\n")
    shadow = rt.load_model(file, "shadow")
    asyncio.run(run())
    queue.close()
    assert plugin.calls[1:] == [("shadow", [f"s{i}" for i in range(LOW_BATCH - 1)])]


def test_low_requests_are_never_admitted(tmp_path: Path) -> None:
    plugin = Versions()
    rt, shadow = _canary(tmp_path, plugin)
    dispatcher = Dispatcher(rt, traced=False)
    dispatcher.admission.max_waiting = 1

    async def run() -> list[PredictResult]:
        low = [dispatcher.predict(f"s{i}", {}, *STRING, None, shadow, True) for i in range(5)]
        return await asyncio.gather(*low, dispatcher.predict("c", {}, *STRING))

    answers = asyncio.run(run())
    dispatcher.close()
    assert answers[-1].label == "test-model:c"
    assert all(a.label.startswith("canary:") for a in answers[:-1])
    assert dispatcher.admission.refused["queue_full"] == 0 and dispatcher.admission.waiting == 0


def test_a_callers_request_does_not_wait_for_the_shadow_requests_pass(tmp_path: Path) -> None:
    plugin = Versions()
    rt, shadow = _canary(tmp_path, plugin)
    queue = Batcher(rt, max_size=64, max_wait_seconds=0.05, inline=True)  # low: 0.5 s

    async def run() -> float:
        loop = asyncio.get_running_loop()
        low = loop.create_task(queue.predict("s", {}, *STRING, None, None, shadow, True))
        await asyncio.sleep(0.01)  # the shadow request waits for callers' requests
        started = loop.time()
        answer = await queue.predict("c", {}, *STRING)
        took = loop.time() - started
        assert answer.label == "test-model:c" and not low.done()
        assert (await low).label == "canary:s"
        return took

    took = asyncio.run(run())
    queue.close()
    assert took < 0.25, took  # a lone caller's request goes at once, not after the 0.5 s
