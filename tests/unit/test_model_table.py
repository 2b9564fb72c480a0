"""The served models by name (ModelTable) and the repository's states over it, built directly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drucker.dispatch import Dispatcher
from drucker.errors import (
    ConflictError,
    InUseError,
    InvalidNameError,
    ModelLoadError,
    NotFoundError,
)
from drucker.management import ModelManager
from drucker.models import MODEL_METADATA_KEY, ModelTable, ServedModel
from drucker.repository import Repository
from tests.core import runtime
from tests.plugins import echo_plugin


def served(name: str, tmp_path: Path) -> ServedModel:
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    built, _ = runtime(echo_plugin, home, application_name=name)
    return ServedModel(name, ModelManager(built), Dispatcher(built, traced=False))


def test_requests_naming_no_model_get_the_default_one(tmp_path: Path) -> None:
    table = ModelTable([served("a", tmp_path), served("b", tmp_path)])
    assert table.for_metadata(()).name == "a"
    assert table.for_metadata(((MODEL_METADATA_KEY, "b"),)).name == "b"
    assert table.for_metadata(((MODEL_METADATA_KEY, b"b"),)).name == "b"
    assert table.get("").name == "a"
    with pytest.raises(NotFoundError, match="serves 'a', 'b'"):
        table.for_metadata(((MODEL_METADATA_KEY, "c"),))


def test_a_table_that_only_ever_held_one_model_answers_every_name(tmp_path: Path) -> None:
    only = served("a", tmp_path)
    table = ModelTable([only])
    assert table.only is only.dispatcher
    assert table.for_metadata(((MODEL_METADATA_KEY, "whatever"),)) is only
    table.add(served("b", tmp_path))
    table.remove("b")
    assert table.only is None  # it has served two: names are checked from now on
    with pytest.raises(NotFoundError):
        table.for_metadata(((MODEL_METADATA_KEY, "b"),))


def test_replacing_the_default_model_keeps_it_the_default(tmp_path: Path) -> None:
    table = ModelTable([served("a", tmp_path), served("b", tmp_path)])
    again = served("a", tmp_path / "again")
    table.add(again)
    assert table.default is again
    assert table.names() == ["a", "b"]


def _repository(table: ModelTable, build: object, stored: list[str]) -> Repository:
    return Repository(table, build, lambda: stored, grace=0.0)  # type: ignore[arg-type]


def test_the_repository_states_of_failed_and_unknown_loads(tmp_path: Path) -> None:
    table = ModelTable([served("a", tmp_path)])

    def build(name: str) -> ServedModel:
        if name == "missing":
            raise NotFoundError("the store holds no model 'missing'")
        raise ModelLoadError("the plugin failed")

    repository = _repository(table, build, ["a", "broken"])
    with pytest.raises(ModelLoadError):
        asyncio.run(repository.load("broken"))
    with pytest.raises(NotFoundError):
        asyncio.run(repository.load("missing"))
    with pytest.raises(InvalidNameError):
        asyncio.run(repository.load("../a"))
    rows = {row.name: (row.state, row.reason) for row in repository.index()}
    assert rows == {"a": ("READY", ""), "broken": ("UNAVAILABLE", "the plugin failed")}
    assert [row.name for row in repository.index(ready_only=True)] == ["a"]


def test_unload_routes_away_then_retires_and_load_serves_again(tmp_path: Path) -> None:
    a, b = served("a", tmp_path), served("b", tmp_path)
    table = ModelTable([a, b])
    repository = _repository(table, lambda name: served(name, tmp_path / "new"), ["a", "b"])

    async def scenario() -> None:
        with pytest.raises(InUseError):
            await repository.unload("a")
        await repository.unload("b")
        assert "b" not in table
        assert {row.name: row.state for row in repository.index()}["b"] == "UNLOADING"
        await asyncio.sleep(0.01)  # the grace (0 s) passes: b's versions are dropped
        assert b.runtime.active is None and b.dispatcher.draining
        assert {row.name: row.state for row in repository.index()}["b"] == "UNAVAILABLE"
        await repository.load("b")
        assert table.get("b") is not b

    asyncio.run(scenario())


def test_a_second_operation_on_one_model_is_aborted(tmp_path: Path) -> None:
    table = ModelTable([served("a", tmp_path)])
    repository = _repository(table, lambda name: served(name, tmp_path), ["a"])
    with repository._claim("a"), pytest.raises(ConflictError):
        asyncio.run(repository.load("a"))


def test_a_refusing_repository_refuses_rpcs_but_not_the_start(tmp_path: Path) -> None:
    table = ModelTable([served("a", tmp_path)])
    repository = Repository(
        table, lambda name: served(name, tmp_path), lambda: ["a", "b"], refusal="one worker only"
    )
    with pytest.raises(InUseError, match="one worker only"):
        asyncio.run(repository.load("b"))
    with pytest.raises(InUseError, match="one worker only"):
        asyncio.run(repository.unload("a"))
    asyncio.run(repository.load("b", starting=True))
    assert "b" in table


def test_the_table_is_not_ready_while_the_start_loads_models(tmp_path: Path) -> None:
    table = ModelTable([served("a", tmp_path)])
    model = tmp_path / "a.model"
    model.write_text("a")
    table.default.manager.load_initial(str(model))
    assert table.ready
    table.starting = True  # the start loads the store's models (app.load_models_at_startup)
    assert not table.ready
    table.starting = False
    assert table.ready
