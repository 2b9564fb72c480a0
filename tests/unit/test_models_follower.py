"""A replica's follower of the repository record (on a file:// store): it applies the loads
and unloads another replica recorded, once each; a fresh one applies the loads only; one it
cannot apply now is tried again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drucker.models import ModelTable
from drucker.repository import Repository
from drucker.server.follow_models import ModelsFollower
from drucker.store.remote.loaded import LoadedModels
from tests.unit.test_model_table import served


def _replica(tmp_path: Path, names: list[str]) -> Repository:
    table = ModelTable([served(name, tmp_path / "start") for name in names])
    return Repository(table, lambda name: served(name, tmp_path / "built"), table.names, grace=0)


def test_the_follower_applies_each_recorded_change_once(tmp_path: Path) -> None:
    record = LoadedModels.at((tmp_path / "store").as_uri())
    here = _replica(tmp_path, ["a", "b"])
    here.recorded = record.mark
    follower = ModelsFollower(here, record, here.models.default.runtime.log)

    async def scenario() -> None:
        await follower.step()  # no record yet: nothing to do
        assert here.models.names() == ["a", "b"]
        record.mark("c", True)  # another replica loaded c
        await follower.step()
        assert "c" in here.models
        await follower.step()  # unchanged: c is not loaded again
        assert here.models.names() == ["a", "b", "c"]
        record.mark("b", False)  # and unloaded b
        await follower.step()
        assert "b" not in here.models
        # a load through this replica is recorded, and following it changes nothing
        await here.load("b")
        assert record.read() == {"b": True, "c": True}
        await follower.step()
        assert here.models.names() == ["a", "c", "b"]

    asyncio.run(scenario())


def test_a_fresh_follower_applies_the_loads_only(tmp_path: Path) -> None:
    record = LoadedModels.at((tmp_path / "store").as_uri())
    record.mark("b", False)  # long ago, a replica unloaded b
    record.mark("c", True)
    here = _replica(tmp_path, ["a", "b"])  # started with b
    follower = ModelsFollower(here, record, here.models.default.runtime.log)
    asyncio.run(follower.step())
    assert here.models.names() == ["a", "b", "c"]


def test_a_change_that_cannot_be_applied_now_is_tried_again(tmp_path: Path) -> None:
    record = LoadedModels.at((tmp_path / "store").as_uri())
    here = _replica(tmp_path, ["a"])
    follower = ModelsFollower(here, record, here.models.default.runtime.log)
    asyncio.run(follower.step())
    record.mark("c", True)
    with here._claim("c"):  # a load of c is under way here
        asyncio.run(follower.step())
        assert "c" not in here.models
    asyncio.run(follower.step())
    assert "c" in here.models
