# Generated from drucker/client/aio_repository.py by tools/unasync.py (`nox -s unasync`).
# Do not edit: change aio_repository.py and regenerate; test_client_generated.py checks it.
"""The model repository methods of :class:`Client`, generated from
:mod:`drucker.client.aio_repository`."""

from __future__ import annotations

from typing import Any

import drucker.client._management as _management
from drucker._wire import grpc_predict_v2_pb2 as v2_pb2
from drucker.client.types import RepositoryModel


class RepositoryMethods:
    """Index, load and unload the models of a server."""

    _inference: Any

    def _call(self, *call: Any) -> Any:  # the client's
        raise NotImplementedError

    def repository_index(
        self, *, ready: bool = False, timeout: float | None = None
    ) -> list[RepositoryModel]:
        """Every model of the server's repository with its state (only ready ones with
        ``ready``); needs the management token."""
        request = v2_pb2.RepositoryIndexRequest(ready=ready)
        reply = self._call(self._inference.RepositoryIndex, request, timeout)
        return _management.repository_models_of(reply)

    def load_model(self, name: str, *, timeout: float | None = 600) -> None:
        """Load (or reload) model ``name`` of the server's store and serve it."""
        request = v2_pb2.RepositoryModelLoadRequest(model_name=name)
        self._call(self._inference.RepositoryModelLoad, request, timeout)

    def unload_model(self, name: str, *, timeout: float | None = None) -> None:
        """Stop serving model ``name`` (requests in flight on it finish)."""
        request = v2_pb2.RepositoryModelUnloadRequest(model_name=name)
        self._call(self._inference.RepositoryModelUnload, request, timeout)
