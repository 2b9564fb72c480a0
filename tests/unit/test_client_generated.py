"""The blocking client is exactly what `nox -s unasync` generates from the asyncio one."""

from __future__ import annotations

import importlib.util
import inspect
from types import ModuleType

from drucker.client._sync import Client
from drucker.client.aio import AsyncClient
from tests.conftest import REPO


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", REPO / "tools" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_blocking_client_is_the_generated_one() -> None:
    generator = _generator()
    fresh = generator.generate(generator.SOURCE.read_text(encoding="utf-8"))
    committed = generator.TARGET.read_text(encoding="utf-8")
    assert committed == fresh, "drucker/client/_sync.py is stale: run `nox -s unasync`"


def test_the_generated_client_has_no_async_left() -> None:
    source = (REPO / "drucker" / "client" / "_sync.py").read_text(encoding="utf-8")
    for word in ("async ", "await ", "grpc.aio", "AsyncIterator", "__aiter__", "__anext__"):
        assert word not in source, f"{word!r} survived the rewrite"


def test_both_clients_have_one_surface() -> None:
    def public(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    assert public(Client) == public(AsyncClient)
    for name in public(Client):
        blocking, asynchronous = getattr(Client, name), getattr(AsyncClient, name)
        assert not inspect.iscoroutinefunction(blocking), name
        assert inspect.iscoroutinefunction(asynchronous), name
        assert blocking.__doc__ == asynchronous.__doc__.replace("an async iterator", "an iterator")


def test_the_rewrite_takes_the_awaits_out() -> None:
    source = '''"""Async."""

from collections.abc import AsyncIterator, Iterator
import grpc.aio


class AsyncClient:
    async def __aenter__(self) -> AsyncClient:
        return self

    async def rows(self, call) -> AsyncIterator[int]:
        async for reply in call:
            for row in reply.rows:
                yield row
        await grpc.aio.insecure_channel("x").close()
'''
    generated = _generator().generate(source)
    body = generated[generated.index('"""') :]
    assert body.startswith('"""The blocking client')
    assert "from collections.abc import Iterator\n" in body
    assert "import grpc.aio" not in body
    assert "class Client:\n    def __enter__(self) -> Client:" in body
    assert "    def rows(self, call) -> Iterator[int]:\n        for reply in call:\n" in body
    assert "            yield from reply.rows\n" in body
    assert '        grpc.insecure_channel("x").close()\n' in body


def test_the_committed_traffic_methods_are_the_generated_ones() -> None:
    from drucker.client._sync_traffic import TrafficMethods
    from drucker.client.aio_traffic import AsyncTrafficMethods

    generator = _generator()
    source = generator.TRAFFIC_SOURCE.read_text(encoding="utf-8")
    fresh = generator.generate(source, generator.TRAFFIC_DOCSTRING, generator.TRAFFIC_HEADER)
    committed = generator.TRAFFIC_TARGET.read_text(encoding="utf-8")
    assert committed == fresh, "drucker/client/_sync_traffic.py is stale: run `nox -s unasync`"
    assert issubclass(Client, TrafficMethods) and issubclass(AsyncClient, AsyncTrafficMethods)
    for name in ("traffic", "set_split", "set_shadow", "stop_shadow", "set_guard", "promote"):
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_the_committed_repository_methods_are_the_generated_ones() -> None:
    from drucker.client._sync_repository import RepositoryMethods
    from drucker.client.aio_repository import AsyncRepositoryMethods

    generator = _generator()
    source = generator.REPOSITORY_SOURCE.read_text(encoding="utf-8")
    fresh = generator.generate(source, generator.REPOSITORY_DOCSTRING, generator.REPOSITORY_HEADER)
    committed = generator.REPOSITORY_TARGET.read_text(encoding="utf-8")
    assert committed == fresh, "drucker/client/_sync_repository.py is stale: run `nox -s unasync`"
    assert issubclass(Client, RepositoryMethods)
    assert issubclass(AsyncClient, AsyncRepositoryMethods)
    for name in ("repository_index", "load_model", "unload_model"):
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
