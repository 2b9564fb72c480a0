"""The model repository methods of :class:`~drucker.client.aio.AsyncClient` (a mixin).

``drucker/client/_sync_repository.py`` is generated from this file by ``tools/unasync.py``, as
``_sync.py`` is from ``aio.py``: edit here, then regenerate. The Open Inference Protocol's
repository extension (servers of several models); every call needs the management token.
"""

from __future__ import annotations

from typing import Any

import drucker.client._management as _management
from drucker._wire import grpc_predict_v2_pb2 as v2_pb2
from drucker.client.types import RepositoryModel


class AsyncRepositoryMethods:
    """Index, load and unload the models of a server."""

    _inference: Any

    async def _call(self, *call: Any) -> Any:  # the client's
        raise NotImplementedError

    async def repository_index(
        self, *, ready: bool = False, timeout: float | None = None
    ) -> list[RepositoryModel]:
        """Every model of the server's repository with its state (only ready ones with
        ``ready``); needs the management token."""
        request = v2_pb2.RepositoryIndexRequest(ready=ready)
        reply = await self._call(self._inference.RepositoryIndex, request, timeout)
        return _management.repository_models_of(reply)

    async def load_model(self, name: str, *, timeout: float | None = 600) -> None:
        """Load (or reload) model ``name`` of the server's store and serve it."""
        request = v2_pb2.RepositoryModelLoadRequest(model_name=name)
        await self._call(self._inference.RepositoryModelLoad, request, timeout)

    async def unload_model(self, name: str, *, timeout: float | None = None) -> None:
        """Stop serving model ``name`` (requests in flight on it finish)."""
        request = v2_pb2.RepositoryModelUnloadRequest(model_name=name)
        await self._call(self._inference.RepositoryModelUnload, request, timeout)
