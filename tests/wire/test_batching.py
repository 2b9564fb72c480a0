"""Adaptive batching over the wire: concurrent rpcs share plugin batch calls.

The batcher's logic (queueing behind a running batch, the pause only under concurrency,
cancelled requests, per-request errors) is tested directly in test_dispatch.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import numpy as np
import pytest
from sklearn.datasets import load_iris

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from tests.plugins import batch_echo_plugin
from tests.serving import ThreadedServer

BATCH_PLUGIN = batch_echo_plugin


async def _predict_many(target: str, texts: list[str]) -> list[Any]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
        calls = [
            stub.Predict_String_String(drucker_pb2.StringInput(input=text), timeout=10)
            for text in texts
        ]
        return await asyncio.gather(*calls, return_exceptions=True)


# Batches run in the batch thread (the default) or inline on the event loop (no threads).
MODES = pytest.mark.parametrize("threads", [4, 0], ids=["thread", "inline"])


@MODES
def test_concurrent_requests_are_batched(tmp_path: Path, threads: int) -> None:
    settings = {"predict_threads": threads}
    with ThreadedServer(BATCH_PLUGIN, None, settings, workdir=tmp_path) as server:
        batch_echo_plugin.BATCH_CALLS.clear()
        texts = [f"t{i}" for i in range(64)]
        answers = asyncio.run(_predict_many(server.target, texts))
    assert [a.output for a in answers] == [f"batch:{t}" for t in texts]
    assert sum(batch_echo_plugin.BATCH_CALLS) == 64
    assert max(batch_echo_plugin.BATCH_CALLS) > 1, batch_echo_plugin.BATCH_CALLS


@MODES
def test_a_bad_input_fails_only_its_own_request(tmp_path: Path, threads: int) -> None:
    settings = {"predict_threads": threads}
    with ThreadedServer(BATCH_PLUGIN, None, settings, workdir=tmp_path) as server:
        texts = ["a", "b", "bad", "c"] * 8
        answers = asyncio.run(_predict_many(server.target, texts))
    for text, answer in zip(texts, answers, strict=True):
        if text == "bad":
            assert isinstance(answer, grpc.aio.AioRpcError)
            assert answer.code() is grpc.StatusCode.INVALID_ARGUMENT
        else:
            assert answer.output in (f"batch:{text}", f"one:{text}")


def test_batching_can_be_turned_off(tmp_path: Path) -> None:
    with ThreadedServer(BATCH_PLUGIN, None, {"batching": False}, workdir=tmp_path) as server:
        answers = asyncio.run(_predict_many(server.target, ["x", "y"]))
    assert [a.output for a in answers] == ["one:x", "one:y"]


@pytest.mark.parametrize("output", ["String", "ArrString", "ArrFloat"])
def test_sklearn_batches_match_single_predictions(
    iris_model: Path, tmp_path: Path, output: str
) -> None:
    rows = load_iris().data[::5].tolist()

    async def run(target: str) -> list[Any]:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
            method = getattr(stub, f"Predict_ArrFloat_{output}")
            calls = [method(drucker_pb2.ArrFloatInput(input=row), timeout=10) for row in rows]
            return list(await asyncio.gather(*calls))

    with ThreadedServer("drucker_sklearn", str(iris_model), workdir=tmp_path / "a") as server:
        batched = asyncio.run(run(server.target))
    settings = {"batching": False}
    with ThreadedServer(
        "drucker_sklearn", str(iris_model), settings, workdir=tmp_path / "b"
    ) as server:
        single = asyncio.run(run(server.target))
    for one, other in zip(batched, single, strict=True):
        assert list(np.atleast_1d(one.output)) == list(np.atleast_1d(other.output))
        assert np.allclose(np.atleast_1d(one.score), np.atleast_1d(other.score), atol=1e-6)
