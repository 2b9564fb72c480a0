"""The runtime built directly: the one door to the plugins and its exception policy."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import drucker
from drucker.batching import Batcher
from drucker.errors import (
    InvalidInputError,
    ModelLoadError,
    ModelNotLoadedError,
    NotFoundError,
    OutputKindError,
    PluginFailure,
)
from drucker.events import PredictionEvent, SystemEvent
from drucker.hookcall import PREDICT_ARGS, positional_caller
from drucker.kinds import Kind
from drucker.plugins import build_plugin_manager, new_plugin_manager
from drucker.runtime import ActiveModel, Runtime
from drucker.types import EvaluationDetail, ModelSignature, PredictResult, TensorSpec
from tests.core import RecordingLog, runtime, settings


class Rows(list):  # type: ignore[type-arg]
    """A list that can be weakly referenced, to see when an input is freed."""


class Steered:
    """A plugin whose behaviour each input names: ``ok``, ``value``, ``runtime``, ``drucker``."""

    def __init__(self) -> None:
        self.batch_calls: list[int] = []

    @drucker.hookimpl
    def drucker_predict(self, input: Any, output_kind: Kind) -> PredictResult:
        word = input[0] if isinstance(input, list) else input
        if word == "value":
            raise ValueError("refused")
        if word == "runtime":
            raise RuntimeError("broke")
        if word == "drucker":
            raise NotFoundError("no such thing")
        if word == "none":
            return None  # type: ignore[return-value]
        return PredictResult(label=f"one:{word}", score=1.0)

    @drucker.hookimpl
    def drucker_predict_batch(self, inputs: list[Any]) -> list[PredictResult]:
        self.batch_calls.append(len(inputs))
        if "value" in inputs:
            raise ValueError("a bad row spoils the batch")
        if "short" in inputs:
            return [PredictResult("x", 1.0)]
        return [PredictResult(label=f"batch:{value}", score=0.5) for value in inputs]


@pytest.fixture
def steered(tmp_path: Path) -> tuple[Runtime, RecordingLog, Steered]:
    plugin = Steered()
    built, log = runtime(plugin, tmp_path)
    return built, log, plugin


def predict(rt: Runtime, value: Any) -> PredictResult:
    return rt.predict(value, {}, Kind.STRING, Kind.STRING)


def predict_rows(rt: Runtime, rows: list[str]) -> list[PredictResult]:
    return rt.predict_rows(rows, {}, Kind.STRING, Kind.STRING)


def assert_a_refused_row_fails_its_request(rt: Runtime) -> None:
    """A row the plugin refuses with ValueError fails the whole request as invalid input."""
    with pytest.raises(InvalidInputError):
        predict_rows(rt, ["a", "value"])


def test_predict_coerces_and_logs_one_record(
    steered: tuple[Runtime, RecordingLog, Steered],
) -> None:
    rt, log, _ = steered
    assert predict(rt, "a") == PredictResult("one:a", 1.0, {})
    [record] = [r for r in log.records if isinstance(r, PredictionEvent)]
    assert (record.input, record.output, record.score) == ("a", "one:a", 1.0)
    rt.predict("b", {"suppress_log_input": True}, Kind.STRING, Kind.STRING)
    hidden = [r for r in log.records if isinstance(r, PredictionEvent)][-1]
    assert hidden.suppressed and hidden.input is None and hidden.output is None


@pytest.mark.parametrize(
    ("word", "error", "logged"),
    [
        ("value", InvalidInputError, False),
        ("runtime", PluginFailure, True),
        ("drucker", NotFoundError, False),
        ("none", PluginFailure, False),
    ],
)
def test_one_policy_for_plugin_exceptions(
    steered: tuple[Runtime, RecordingLog, Steered], word: str, error: type, logged: bool
) -> None:
    rt, log, _ = steered
    with pytest.raises(error) as caught:
        predict(rt, word)
    # Nothing chained: the caller's error pins no frame of the plugin.
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    failures = [r for r in log.records if isinstance(r, SystemEvent) and r.traceback]
    assert bool(failures) is logged
    if logged:
        assert "RuntimeError: broke" in (failures[0].traceback or "")


def test_a_failed_prediction_frees_its_input_without_a_garbage_collection(
    steered: tuple[Runtime, RecordingLog, Steered],
) -> None:
    rt, _, _ = steered
    gc.disable()
    try:
        for word in ("value", "runtime"):
            rows = Rows([word])
            alive = weakref.ref(rows)
            with pytest.raises((InvalidInputError, PluginFailure)):
                rt.predict(rows, {}, Kind.ARR_STRING, Kind.STRING)
            del rows
            assert alive() is None, f"the input of a failed {word!r} prediction is still alive"
    finally:
        gc.enable()


def test_no_model_no_prediction(tmp_path: Path) -> None:
    log = RecordingLog()
    manager = build_plugin_manager(Steered(), extra_plugins=(log,), load_entry_points=False)
    rt = Runtime(manager, settings(tmp_path))
    assert not rt.ready
    with pytest.raises(ModelNotLoadedError):
        predict(rt, "a")
    assert rt.signature() is None


def test_a_switch_is_one_reference_change(steered: tuple[Runtime, RecordingLog, Steered]) -> None:
    rt, _, _ = steered
    first = rt.active
    second = ActiveModel(model=None, name="second", path=None)
    assert rt.activate(second) is first
    assert rt.active is second


def test_many_requests_share_one_batch_call_and_fail_together(
    steered: tuple[Runtime, RecordingLog, Steered],
) -> None:
    rt, log, plugin = steered
    answers = rt.predict_requests(["a", "b"], [{}, {}], Kind.STRING, Kind.STRING)
    assert answers == [PredictResult("batch:a", 0.5), PredictResult("batch:b", 0.5)]
    assert len([r for r in log.records if isinstance(r, PredictionEvent)]) == 2  # one each
    with pytest.raises(InvalidInputError):
        rt.predict_requests(["a", "value", "runtime"], [{}] * 3, Kind.STRING, Kind.STRING)
    with pytest.raises(PluginFailure, match="returned 1 results for 2 inputs"):
        rt.predict_requests(["short", "b"], [{}, {}], Kind.STRING, Kind.STRING)
    assert plugin.batch_calls == [2, 3, 2]


def test_the_batcher_retries_each_request_of_a_failed_batch_alone(
    steered: tuple[Runtime, RecordingLog, Steered],
) -> None:
    rt, _, plugin = steered
    batcher = Batcher(rt, max_size=8, max_wait_seconds=0.0, inline=True)

    async def gather(words: list[str]) -> list[Any]:
        calls = [batcher.predict(word, {}, Kind.STRING, Kind.STRING) for word in words]
        return await asyncio.gather(*calls, return_exceptions=True)

    mixed = asyncio.run(gather(["a", "value", "runtime"]))
    assert mixed[0] == PredictResult("one:a", 1.0)
    assert isinstance(mixed[1], InvalidInputError) and isinstance(mixed[2], PluginFailure)
    # Nothing chained: the errors pin no frame of the plugin.
    assert all(e.__cause__ is None and e.__context__ is None for e in mixed[1:])
    short = asyncio.run(gather(["short", "b"]))
    assert short == [PredictResult("one:short", 1.0), PredictResult("one:b", 1.0)]
    assert plugin.batch_calls == [3, 2]


def test_rows_of_one_request_are_one_batch_call_and_one_record(
    steered: tuple[Runtime, RecordingLog, Steered],
) -> None:
    rt, log, plugin = steered
    rows = [f"r{i}" for i in range(1000)]
    results = predict_rows(rt, rows)
    assert [r.label for r in results] == [f"batch:{row}" for row in rows]
    assert plugin.batch_calls == [1000]
    assert len([r for r in log.records if isinstance(r, PredictionEvent)]) == 1
    assert_a_refused_row_fails_its_request(rt)


def test_rows_without_a_batch_hook_go_one_by_one(tmp_path: Path) -> None:
    class Plain:
        @drucker.hookimpl
        def drucker_predict(self, input: Any) -> PredictResult:
            if input == "value":
                raise ValueError("no")
            return PredictResult(label=input.upper(), score=1.0)

    rt, _ = runtime(Plain(), tmp_path)
    assert not rt.can_batch
    assert [r.label for r in predict_rows(rt, ["a", "b"])] == ["A", "B"]
    assert_a_refused_row_fails_its_request(rt)


def test_results_that_do_not_fit_the_output_kind(tmp_path: Path) -> None:
    class Wrong:
        @drucker.hookimpl
        def drucker_predict(self, input: Any) -> PredictResult:
            return PredictResult(label=[1, 2], score=[0.5, 0.5])

    rt, _ = runtime(Wrong(), tmp_path)
    with pytest.raises(OutputKindError):
        rt.predict("a", {}, Kind.STRING, Kind.STRING)
    assert rt.predict("a", {}, Kind.STRING, Kind.ARR_INT).label == [1, 2]


def test_load_model_errors(tmp_path: Path) -> None:
    class Loader:
        @drucker.hookimpl
        def drucker_load_model(self, model_path: str) -> Any:
            text = Path(model_path).read_text()
            if text == "broken":
                raise OSError("unreadable")
            return None if text == "nothing" else text

        @drucker.hookimpl
        def drucker_predict(self, model: str, input: Any) -> PredictResult:
            return PredictResult(label=model, score=1.0)

    rt = Runtime(build_plugin_manager(Loader(), load_entry_points=False), settings(tmp_path))
    good, broken, nothing = (tmp_path / n for n in ("good", "broken", "nothing"))
    for path in (good, broken, nothing):
        path.write_text(path.name)
    assert rt.load_model(good).model == "good"
    for path, message in (
        (broken, "OSError: unreadable"),
        (nothing, "returned no model"),
        (tmp_path / "absent", "does not exist"),
        (None, "no model file given"),
    ):
        with pytest.raises(ModelLoadError, match=message):
            rt.load_model(path)


def test_evaluation_streams_and_maps_errors_raised_midway(tmp_path: Path) -> None:
    class Evaluator:
        @drucker.hookimpl
        def drucker_predict(self, input: Any) -> PredictResult:
            return PredictResult(label=input, score=1.0)

        @drucker.hookimpl
        def drucker_evaluate(self, data_path: str) -> Iterator[EvaluationDetail]:
            for line in Path(data_path).read_text().splitlines():
                if line == "bad":
                    raise ValueError("line 'bad' is not a sample")
                if line == "crash":
                    raise KeyError("crash")
                yield EvaluationDetail(input=line, label=line, result=PredictResult(line, 1.0))

    rt, _ = runtime(Evaluator(), tmp_path)
    data = tmp_path / "data"
    data.write_text("a\nb\n")
    assert [d.label for d in rt.evaluate(data)] == ["a", "b"]
    for text, error in (("a\nbad\n", InvalidInputError), ("a\ncrash\n", PluginFailure)):
        data.write_text(text)
        details = rt.evaluate(data)
        assert next(details).label == "a"
        with pytest.raises(error):
            next(details)
    steered_rt, _ = runtime(Steered(), tmp_path)
    with pytest.raises(PluginFailure, match="does not implement drucker_evaluate"):
        steered_rt.evaluate(data)


def test_signature_is_checked(tmp_path: Path) -> None:
    declared = ModelSignature(inputs=(TensorSpec("x", "FP32", (-1, 2)),), outputs=())

    class Declares:
        answer: Any = declared

        @drucker.hookimpl
        def drucker_predict(self, input: Any) -> PredictResult:
            return PredictResult(label=input, score=1.0)

        @drucker.hookimpl
        def drucker_signature(self) -> Any:
            return self.answer

    plugin = Declares()
    rt, _ = runtime(plugin, tmp_path)
    assert rt.signature() == declared
    plugin.answer = {"inputs": []}
    with pytest.raises(PluginFailure, match=r"must return drucker\.ModelSignature"):
        rt.signature()


def test_configure_reaches_every_plugin_once(tmp_path: Path) -> None:
    seen: list[str] = []

    class Configured:
        @drucker.hookimpl
        def drucker_configure(self, settings: Any) -> None:
            seen.append(settings.application_name)

    manager = build_plugin_manager(
        Steered(), extra_plugins=(Configured(),), load_entry_points=False
    )
    Runtime(manager, settings(tmp_path, application_name="configured"))
    assert seen == ["configured"]


class TakesWhatItNeeds:
    """A plugin whose predict hook declares only some arguments, in another order."""

    @drucker.hookimpl
    def drucker_predict(self, output_kind: Kind, input: Any) -> PredictResult:
        return PredictResult(label=f"{input}:{output_kind.value}", score=1.0)


class Wrapping:
    """A wrapper around the predict hook: the runtime must let pluggy call both."""

    def __init__(self) -> None:
        self.calls = 0

    @drucker.hookimpl(wrapper=True)
    def drucker_predict(self, input: Any) -> Any:
        self.calls += 1
        result = yield
        return PredictResult(label=f"wrapped:{result.label}", score=result.score)


def test_a_hook_is_called_with_the_arguments_its_implementation_declares(
    tmp_path: Path,
) -> None:
    rt, log = runtime(TakesWhatItNeeds(), tmp_path)
    result = rt.predict("x", {}, Kind.STRING, Kind.STRING)
    assert result.label == "x:String"
    assert [r.input for r in log.records if isinstance(r, PredictionEvent)] == ["x"]


def test_a_wrapped_hook_goes_through_pluggy() -> None:
    manager = new_plugin_manager()
    wrapper = Wrapping()
    manager.register(TakesWhatItNeeds())
    manager.register(wrapper)
    call = positional_caller(manager.hook.drucker_predict, PREDICT_ARGS)
    assert call(None, "y", {}, Kind.STRING, Kind.STRING).label == "wrapped:y:String"
    assert wrapper.calls == 1


def test_every_log_plugin_gets_every_record(tmp_path: Path) -> None:
    first, second = RecordingLog(), RecordingLog()
    manager = build_plugin_manager(
        TakesWhatItNeeds(), extra_plugins=(first, second), load_entry_points=False
    )
    rt = Runtime(manager, settings(tmp_path))
    rt.activate(rt.load_model(None))
    rt.predict("z", {}, Kind.STRING, Kind.STRING)
    assert [len(first.records), len(second.records)] == [1, 1]


def test_replacing_the_model_calls_thaw_and_forgets_the_old_version(tmp_path: Path) -> None:
    thawed: list[str] = []
    manager = build_plugin_manager(TakesWhatItNeeds(), load_entry_points=False)
    rt = Runtime(manager, settings(tmp_path), thaw=lambda: thawed.append("thaw"))
    first = rt.load_model(None, "first")
    assert rt.activate(first) is None and thawed == []  # nothing replaced yet
    second = rt.load_model(None, "second")
    assert rt.activate(second) is first and thawed == ["thaw"]
    name = rt.settings.application_name
    assert rt.models.serving(name) is second and rt.active is second
    assert rt.models.versions(name) == ["second"]  # one version per model until multi-model
    assert rt.models.get(name, "first") is None
