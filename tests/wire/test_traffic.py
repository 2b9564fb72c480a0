"""Traffic between versions on a real server: weighted split, sticky route keys, the shadow
with online agreement, guards, promote, and the refusals that leave the policy as it was."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.client import Client, ClientError
from tests.polling import wait_for
from tests.serving import ThreadedServer
from tests.traffic_support import BATCH_PROBE_PLUGIN, TOKEN, predict_version, probe_server

LABELS = {"v1": "A", "v2": "B", "v3": "C", "same": "A"}


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[tuple[ThreadedServer, Client]]:
    with probe_server(tmp_path) as pair:
        yield pair


def test_a_70_30_split_lands_within_4_points_and_every_answer_names_its_version(
    probe: tuple[ThreadedServer, Client],
) -> None:
    server, client = probe
    traffic = client.set_split({"v1": 70, "v2": 30})
    assert traffic.split == {"v1": 70.0, "v2": 30.0}
    counts: Counter[str] = Counter()
    with server.channel() as channel:
        for i in range(2000):
            label, version = predict_version(channel, str(i))
            assert label == LABELS[version]
            counts[version] += 1
    assert set(counts) == {"v1", "v2"}
    assert abs(counts["v1"] / 2000 - 0.70) <= 0.04, counts
    figures = {v.version: v for v in client.traffic().versions}
    assert figures["v1"].requests == counts["v1"] and figures["v2"].requests == counts["v2"]


def test_a_route_key_always_reaches_one_version(probe: tuple[ThreadedServer, Client]) -> None:
    server, client = probe
    client.set_split({"v1": 50, "v2": 50})
    with server.channel() as channel:
        seen = {predict_version(channel, str(i), key="user-7")[1] for i in range(200)}
        assert len(seen) == 1
        keys = {predict_version(channel, "x", key=f"user-{i}")[1] for i in range(50)}
    assert keys == {"v1", "v2"}  # keys spread over both


def test_raising_the_canary_moves_only_keys_into_the_added_share(
    probe: tuple[ThreadedServer, Client],
) -> None:
    server, client = probe
    keys = [f"key-{i}" for i in range(1000)]
    with server.channel() as channel:
        client.set_split({"v1": 90, "v2": 10})
        before = {key: predict_version(channel, "x", key)[1] for key in keys}
        client.set_split({"v1": 80, "v2": 20})
        after = {key: predict_version(channel, "x", key)[1] for key in keys}
    moved = [key for key in keys if before[key] != after[key]]
    assert all(before[key] == "v1" and after[key] == "v2" for key in moved)
    assert all(after[key] == "v2" for key in keys if before[key] == "v2")
    # about 10 % of the keys move (binomial: 100 ± 3 sigma)
    assert 55 <= len(moved) <= 145, len(moved)


def _shadowed(client: Client, requests: int) -> bool:
    return client.traffic().shadow.total == requests


@pytest.mark.parametrize(("shadow", "outcome"), [("v2", "disagree"), ("same", "agree")])
def test_a_full_shadow_is_compared_and_never_answers(
    probe: tuple[ThreadedServer, Client], shadow: str, outcome: str
) -> None:
    server, client = probe
    client.set_shadow(shadow, 1.0)
    with server.channel() as channel:
        answers = {predict_version(channel, str(i)) for i in range(300)}
    assert answers == {("A", "v1")}
    wait_for(lambda: _shadowed(client, 300), "every shadowed request counted")
    figures = client.traffic().shadow
    assert figures.agree + figures.disagree + figures.shadow_error + figures.dropped == 300
    assert getattr(figures, outcome) + figures.dropped == 300 and figures.shadow_error == 0
    sample = client.shadow_sample(limit=5)
    assert len(sample.rows) == 5 and sample.data_name.endswith(".csv")
    assert {row.outcome for row in sample.rows} == {outcome}
    assert sample.rows[0].primary_label == "A" and sample.rows[0].shadow_label == LABELS[shadow]
    if outcome == "disagree":
        assert math.isclose(figures.mean_score_difference, 0.0)  # both labels have one letter
    stored, _ = client.list_models()
    assert stored  # the sample is stored as evaluation data, the models are untouched
    metrics_help = client.traffic().shadow.agreement
    assert metrics_help == (1.0 if outcome == "agree" else 0.0)


def test_a_guard_takes_a_failing_canary_out_within_its_window(
    probe: tuple[ThreadedServer, Client],
) -> None:
    server, client = probe
    client.set_split({"v1": 50, "flaky": 50})
    client.set_guard("flaky", max_error_rate=0.1, window=20)
    with server.channel() as channel:
        for i in range(400):
            try:
                predict_version(channel, str(i))
            except grpc.RpcError as error:
                assert error.code() is grpc.StatusCode.INTERNAL
            if not client.traffic().split.get("flaky"):
                break
    traffic = wait_for(
        lambda: (t := client.traffic()).split.get("flaky") == 0 and t, "the guard tripped"
    )
    assert traffic.split["v1"] == 100
    guard = next(g for g in traffic.guards if g.version == "flaky")
    assert guard.tripped and "error rate" in guard.reason
    assert next(v for v in traffic.versions if v.version == "flaky").requests <= 60
    history = wait_for(
        lambda: [e for e in client.model_history() if e.traffic.startswith("guard tripped")],
        "the trip in the history",
    )
    assert "flaky" in history[-1].traffic and history[-1].ok
    assert "traffic of" in server.log.getvalue() and "guard tripped: flaky" in server.log.getvalue()
    with server.channel() as channel:
        assert {predict_version(channel, str(i))[1] for i in range(50)} == {"v1"}


def test_promote_makes_a_version_serve_everything(probe: tuple[ThreadedServer, Client]) -> None:
    server, client = probe
    client.set_split({"v1": 90, "v2": 10})
    client.set_shadow("v3", 0.5)
    traffic = client.promote("v2")
    assert traffic.serving == "v2" and traffic.split == {} and traffic.shadow_version == ""
    assert client.service_info().model_name == "v2"
    assert any(v.version == "v1" and v.loaded for v in traffic.versions)  # kept for a rollback
    with server.channel() as channel:
        assert predict_version(channel, "x")[0] == "B"
    texts = [event.traffic for event in client.model_history() if event.traffic]
    assert texts[-1] == "promote v2" and "split v1=90 v2=10" in texts


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (lambda c: c.set_split({"v1": 60, "v2": 30}), "INVALID_ARGUMENT", "sum to 90"),
        (lambda c: c.set_split({"v1": 110, "v2": -10}), "INVALID_ARGUMENT", "negative"),
        (lambda c: c.set_split({"v1": math.nan, "v2": 100}), "INVALID_ARGUMENT", "not a number"),
        (lambda c: c.set_split({"v1": 50, "nope": 50}), "NOT_FOUND", "has no version 'nope'"),
        (lambda c: c.set_split({"v1": 50, "v3": 50}), "INVALID_ARGUMENT", "shadow"),
        (lambda c: c.set_shadow("v3", 0.0), "INVALID_ARGUMENT", "(0, 1]"),
        (lambda c: c.set_shadow("v3", 1.5), "INVALID_ARGUMENT", "(0, 1]"),
        (lambda c: c.set_shadow("v2", 0.5), "INVALID_ARGUMENT", "shadow must be another"),
        (lambda c: c.set_guard("v1", window=10), "INVALID_ARGUMENT", "neither"),
        (lambda c: c.set_guard("v2", max_error_rate=2.0), "INVALID_ARGUMENT", "[0, 1]"),
        (lambda c: c.set_split({"v1": 50, "broken": 50}), "FAILED_PRECONDITION", "broken"),
    ],
)
def test_bad_input_is_refused_with_its_code_and_the_policy_stays(
    probe: tuple[ThreadedServer, Client], change: object, code: str, words: str
) -> None:
    server, client = probe
    empty = server.workdir / "files" / "broken"
    empty.write_text("")  # the probe cannot load an empty file
    client.upload_model(empty, "broken")
    client.set_split({"v1": 80, "v2": 20})
    client.set_shadow("v3", 0.5)
    before = client.traffic()
    with pytest.raises(ClientError) as refused:
        change(client)  # type: ignore[operator]
    assert refused.value.code is getattr(grpc.StatusCode, code)
    assert words in refused.value.message
    after = client.traffic()
    assert (after.split, after.shadow_version, after.shadow_fraction, after.guards) == (
        before.split,
        before.shadow_version,
        before.shadow_fraction,
        before.guards,
    )
    assert after.changed_at == before.changed_at


def test_a_missing_token_is_refused(probe: tuple[ThreadedServer, Client]) -> None:
    server, client = probe
    with Client(server.target) as anonymous:
        with pytest.raises(ClientError) as refused:
            anonymous.set_split({"v1": 50, "v2": 50})
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert client.traffic().split == {}


def test_an_unknown_model_is_not_found(tmp_path: Path) -> None:
    with probe_server(tmp_path, models={"first": "v1", "other": "v2"}) as (server, client):
        with Client(server.target, token=TOKEN, model="nope") as other:
            with pytest.raises(ClientError) as unknown:
                other.set_split({"v1": 100})
        assert unknown.value.code is grpc.StatusCode.NOT_FOUND
        assert "'nope'" in unknown.value.message
        assert client.traffic().split == {}


def test_a_shadow_below_its_agreement_stops_and_the_series_count_every_outcome(
    tmp_path: Path,
) -> None:
    from tests.metrics_support import scrape, total, value
    from tests.serving import free_port

    with probe_server(tmp_path, {"metrics_port": free_port()}) as (server, client):
        client.set_shadow("v2", 1.0)
        client.set_guard("v2", min_agreement=0.5, window=20)
        with server.channel() as channel:
            for i in range(200):
                predict_version(channel, str(i))
                if not client.traffic().shadow_version:
                    break
        traffic = wait_for(
            lambda: (t := client.traffic()).guards[0].tripped and t, "the shadow's guard tripped"
        )
        assert traffic.shadow_version == "" and "agreement 0.000" in traffic.guards[0].reason
        samples = scrape(server.settings.metrics_port)
        name = "drucker_shadow_comparisons_total"
        labels = {"primary": "v1", "shadow": "v2"}
        assert value(samples, name, model=traffic.model, outcome="disagree", **labels) >= 20
        assert total(samples, name) == client.traffic().shadow.total
        assert total(samples, "drucker_shadow_score_difference_count") >= 20


def test_a_repository_reload_keeps_the_policy_routing(probe: tuple[ThreadedServer, Client]) -> None:
    server, client = probe
    client.set_split({"v1": 50, "v2": 50})
    client.load_model(client.service_info().application_name)  # a reload of the served model
    with server.channel() as channel:
        seen = {predict_version(channel, str(i))[1] for i in range(100)}
    assert seen == {"v1", "v2"}
    assert client.traffic().split == {"v1": 50.0, "v2": 50.0}


def test_a_model_unloaded_and_loaded_again_routes_by_its_policy(tmp_path: Path) -> None:
    with probe_server(tmp_path, models={"first": "v1", "other": "v1"}) as (server, _):
        with Client(server.target, token=TOKEN, model="other", timeout=30) as client:
            client.upload_model(server.workdir / "files" / "v2", "v2")
            client.set_split({"v1": 50, "v2": 50})
            client.unload_model("other")
            client.load_model("other")
            with server.channel() as channel:
                seen = {predict_version(channel, str(i), model="other")[1] for i in range(100)}
            assert seen == {"v1", "v2"}
            client.load_model("other")  # and a reload in place keeps it
            with server.channel() as channel:
                seen = {predict_version(channel, str(i), model="other")[1] for i in range(100)}
            assert seen == {"v1", "v2"}


async def _concurrent(target: str, count: int) -> list[tuple[str, str]]:
    """(label, x-drucker-version) of ``count`` Predict_String_String calls all at once."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = drucker_pb2_grpc.DruckerWorkerStub(channel)

        async def one(i: int) -> tuple[str, str]:
            call = stub.Predict_String_String(drucker_pb2.StringInput(input=str(i)), timeout=30)
            reply = await call
            trailing = dict(await call.trailing_metadata() or ())
            return reply.output, str(trailing.get("x-drucker-version", ""))

        return await asyncio.gather(*(one(i) for i in range(count)))


def test_batched_versions_share_the_lanes_and_answer_each_by_its_own(tmp_path: Path) -> None:
    with probe_server(tmp_path, plugin=BATCH_PROBE_PLUGIN) as (server, client):
        client.set_split({"v1": 50, "v2": 50})
        client.set_shadow("v3", 1.0)
        answers = asyncio.run(_concurrent(server.target, 400))
        assert all(label == LABELS[version] for label, version in answers), answers[:10]
        assert {version for _, version in answers} == {"v1", "v2"}
        wait_for(lambda: _shadowed(client, 400), "every shadowed request counted")
        shadow = client.traffic().shadow
        assert shadow.disagree + shadow.dropped == 400 and shadow.shadow_error == 0
        assert shadow.disagree > 0
