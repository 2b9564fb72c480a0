"""Clients for a registered service: its address, management token and TLS CA, and on a
server of several models the model the calls are for."""

from __future__ import annotations

import attrs

from drucker.client import Client
from drucker.client.aio import AsyncClient
from drucker.dashboard.models import Service


@attrs.frozen
class Endpoint:
    """What it takes to reach one service (a snapshot, free of the database session)."""

    id: int
    address: str
    token: str = ""
    tls_ca: str = ""
    metrics_url: str = ""
    model: str = ""  # the model the management calls act on ("": the server's default model)

    @classmethod
    def of(cls, service: Service, model: str = "") -> Endpoint:
        return cls(
            service.id, service.address, service.token, service.tls_ca, service.metrics_url, model
        )

    def for_model(self, model: str) -> Endpoint:
        """This service's endpoint for the calls on model ``model`` ("": the default one)."""
        return attrs.evolve(self, model=model)

    @property
    def _tls(self) -> bytes | bool:
        return self.tls_ca.encode("utf-8") if self.tls_ca else False

    def client(self, timeout: float = 30.0) -> Client:
        """A blocking client (uploads, switches and evaluations are never retried)."""
        return Client(
            self.address,
            token=self.token or None,
            tls=self._tls,
            timeout=timeout,
            model=self.model or None,
        )

    def async_client(self, timeout: float) -> AsyncClient:
        """An asyncio client that fails fast: one attempt, short deadline."""
        return AsyncClient(
            self.address,
            token=self.token or None,
            tls=self._tls,
            timeout=timeout,
            max_attempts=1,
            model=self.model or None,
        )
