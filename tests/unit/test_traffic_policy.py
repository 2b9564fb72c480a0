"""The traffic policy's checks, its store record, and weighted rendezvous routing."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from drucker.errors import InvalidInputError
from drucker.store.base import ActiveRecord, SwitchEvent
from drucker.store.history import previous_model
from drucker.store.local.models import TRAFFIC_NAME, LocalModelStore
from drucker.traffic.policy import (
    Guard,
    TrafficPolicy,
    checked_fraction,
    checked_guard,
    checked_split,
    from_json,
    to_json,
)
from drucker.traffic.router import without
from drucker.traffic.routing import Routes


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ([("a", 60.0), ("b", 30.0)], "sum to 90"),
        ([("a", 110.0), ("b", -10.0)], "negative"),
        ([("a", math.inf), ("b", 0.0)], "not a number"),
        ([("a", 50.0), ("a", 50.0)], "twice"),
        ([("", 100.0)], "no version"),
    ],
)
def test_a_bad_split_is_refused_naming_what_is_wrong(
    weights: list[tuple[str, float]], words: str
) -> None:
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(")):
        checked_split(weights)


def test_fractions_and_guards_are_checked() -> None:
    assert checked_fraction(1.0) == 1.0
    for bad in (0.0, -0.1, 1.01, math.nan):
        with pytest.raises(InvalidInputError, match=r"\(0, 1\]"):
            checked_fraction(bad)
    with pytest.raises(InvalidInputError, match="neither"):
        checked_guard(Guard("a"))
    with pytest.raises(InvalidInputError, match="window"):
        checked_guard(Guard("a", max_error_rate=0.1, window=0))


def test_a_policy_round_trips_through_its_record_in_a_local_store(tmp_path: Path) -> None:
    policy = TrafficPolicy(
        split=(("a", 90.0), ("b", 10.0)),
        shadow="c",
        fraction=0.25,
        guards=(Guard("b", max_error_rate=0.1, window=20),),
        changed_at=12.5,
        changed_by="someone",
    )
    store = LocalModelStore(tmp_path)
    assert store.traffic_record() is None
    store.set_traffic_record(to_json(policy))
    assert from_json(LocalModelStore(tmp_path).traffic_record()) == policy
    # written by a rename: no temporary file is left beside the record
    assert [p.name for p in tmp_path.iterdir() if TRAFFIC_NAME in p.name] == [TRAFFIC_NAME]
    store.set_traffic_record(None)
    assert store.traffic_record() is None


def test_a_traffic_change_in_the_history_is_no_switch_for_a_rollback() -> None:
    switch = SwitchEvent(1.0, "b", "sb", "a", "sa", "me", "ok")
    change = SwitchEvent(2.0, "b", "sb", "b", "sb", "me", "ok", traffic="split a=50 b=50")
    found = previous_model([switch, change], ActiveRecord("b", "sb"))
    assert found is not None and found.from_name == "a"


def test_a_key_keeps_its_version_and_raising_a_weight_moves_keys_only_to_it() -> None:
    keys = [f"k{i}".encode() for i in range(3000)]
    ten = Routes((("a", 70.0), ("b", 20.0), ("c", 10.0)))
    twenty = Routes((("a", 60.0), ("b", 20.0), ("c", 20.0)))
    before = {key: ten.for_key(key) for key in keys}
    assert all(ten.for_key(key) == before[key] for key in keys[:100])
    after = {key: twenty.for_key(key) for key in keys}
    moved = [key for key in keys if before[key] != after[key]]
    # a key never moves to "a" (its weight fell) nor away from "c" (its weight rose)
    assert moved and all(after[key] != "a" and before[key] != "c" for key in moved)
    into_c = [key for key in moved if after[key] == "c"]
    assert abs(len(into_c) / len(keys) - 0.10) < 0.03
    shares = Counter(after.values())
    assert abs(shares["c"] / len(keys) - 0.20) < 0.03
    two_before = Routes((("a", 90.0), ("b", 10.0)))
    two_after = Routes((("a", 80.0), ("b", 20.0)))
    moves = {(two_before.for_key(k), two_after.for_key(k)) for k in keys} - {("a", "a"), ("b", "b")}
    assert moves == {("a", "b")}  # two versions: only the added share moves


def test_a_weight_of_zero_takes_a_version_out_and_its_share_goes_to_the_serving_one() -> None:
    assert without((("a", 80.0), ("b", 20.0)), "b", "a") == (("a", 100.0), ("b", 0.0))
    assert without((("b", 50.0), ("c", 50.0)), "b", "a") == (
        ("b", 0.0),
        ("c", 50.0),
        ("a", 50.0),
    )
    routes = Routes((("a", 100.0), ("b", 0.0)))
    assert {routes.by_chance() for _ in range(200)} == {"a"}


def test_a_shadowed_0_4_5_float_array_is_kept_in_the_sample_as_json() -> None:
    import asyncio
    import json

    from drucker._wire import drucker_pb2
    from drucker.traffic.shadow import ShadowLane
    from drucker.types import PredictResult

    request = drucker_pb2.ArrFloatInput(input=[1.5, 2.0])
    outcomes: list[str] = []

    async def shadow_answer() -> PredictResult:
        return PredictResult(label="b", score=0.5)

    async def run() -> ShadowLane:
        lane = ShadowLane()
        primary = PredictResult(label="a", score=1.0)
        lane.offer(
            shadow_answer, primary, request.input, ("v1", "v2"), lambda o, *_: outcomes.append(o)
        )
        while len(outcomes) < 1:
            await asyncio.sleep(0)
        return lane

    lane = asyncio.run(run())
    assert outcomes == ["disagree"]
    (row,) = lane.sample
    assert json.loads(json.dumps(row))["input"] == [1.5, 2.0]
