"""The asyncio client against real servers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drucker.client import InvalidArgument, ManagementError, ServerError, Unavailable
from drucker.client.aio import AsyncClient
from drucker.kinds import Kind
from tests.plugins.echo_plugin import echo
from tests.serving import ThreadedServer, free_port
from tests.wire.test_client import INPUTS


def test_every_kind_concurrently(echo_server: ThreadedServer) -> None:
    async def run() -> None:
        async with AsyncClient(echo_server.target) as client:
            pairs = [(i, o) for i in Kind for o in Kind]
            results = await asyncio.gather(*(client.predict(INPUTS[i], output=o) for i, o in pairs))
            for (i, o), result in zip(pairs, results, strict=True):
                value = INPUTS[i]
                plain = value.tolist() if hasattr(value, "tolist") else value
                assert result.label == echo(plain, o)

    asyncio.run(run())


def test_errors(echo_server: ThreadedServer) -> None:
    async def run() -> None:
        async with AsyncClient(echo_server.target) as client:
            with pytest.raises(InvalidArgument):
                await client.predict("x", option={"raise": "value"})
            with pytest.raises(ServerError):
                await client.predict("x", option={"raise": "runtime"}, output=Kind.BYTES)
        async with AsyncClient(f"127.0.0.1:{free_port()}", timeout=2, max_attempts=1) as nobody:
            with pytest.raises(Unavailable):
                await nobody.predict("x")

    asyncio.run(run())


def test_management(tmp_path: Path, iris_model: Path) -> None:
    from tests.datasets import write_iris_csv

    settings = {"management_token": "t"}
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:

        async def run() -> None:
            async with AsyncClient(server.target, token="t") as client:
                assert await client.health()
                await client.upload_model(iris_model, "b.joblib")
                await client.switch_model("b.joblib")
                assert (await client.service_info()).model_name == "b.joblib"
                models, serving = await client.list_models()
                assert serving == "b.joblib" and models[0].active
                with pytest.raises(ManagementError):
                    await client.upload_model(iris_model, "../escape")
                await client.upload_evaluation_data(write_iris_csv(tmp_path / "d.csv"), "d.csv")
                metrics = await client.evaluate("d.csv", "r")
                stored, records = await client.evaluation_result("r")
                assert stored == metrics
                assert len([r async for r in records]) == metrics.num == 150

        asyncio.run(run())
