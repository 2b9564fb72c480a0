"""The status of many services, gathered concurrently with short deadlines and cached.

A page asks :meth:`StatusBoard.statuses` for what it shows; checks older than the TTL are
started in the background and awaited only for ``wait`` seconds, so a service that is down or
slow never holds a page up (its row shows the last known state, or "checking").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import attrs
import httpx

from drucker.client import ClientError, ServiceInfo
from drucker.client.aio import AsyncClient
from drucker.dashboard import metrics
from drucker.dashboard.connect import Endpoint


@attrs.frozen
class ServiceStatus:
    """One check of one service."""

    up: bool
    checked_at: float
    info: ServiceInfo | None = None
    error: str = ""
    request_rate: float | None = None
    p99_seconds: float | None = None


class StatusBoard:
    """Cached, concurrent status checks of services (one per service at a time)."""

    def __init__(self, ttl: float = 2.0, timeout: float = 1.5) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[int, ServiceStatus] = {}
        self._checks: dict[int, asyncio.Task[ServiceStatus]] = {}
        self._clients: dict[int, tuple[Endpoint, AsyncClient]] = {}
        self._samples: dict[int, list[metrics.Sample]] = {}
        self._http: httpx.AsyncClient | None = None

    def cached(self, service_id: int) -> ServiceStatus | None:
        return self._cache.get(service_id)

    def forget(self, service_id: int) -> None:
        """Drop what is known of a service (after it changed or was removed)."""
        self._cache.pop(service_id, None)
        self._samples.pop(service_id, None)

    async def statuses(
        self, endpoints: Iterable[Endpoint], wait: float
    ) -> dict[int, ServiceStatus | None]:
        """The freshest status of each endpoint that is at hand after at most ``wait`` s."""
        endpoints = list(endpoints)
        now = time.monotonic()
        pending = []
        for endpoint in endpoints:
            status = self._cache.get(endpoint.id)
            if status is None or now - status.checked_at >= self.ttl:
                pending.append(self._check_once(endpoint))
        if pending and wait > 0:
            await asyncio.wait(pending, timeout=wait)
        return {endpoint.id: self._cache.get(endpoint.id) for endpoint in endpoints}

    async def refresh(self, endpoint: Endpoint) -> ServiceStatus:
        """Check one service now (after a change), waiting for the answer."""
        self._cache.pop(endpoint.id, None)
        return await self._check_once(endpoint)

    def _check_once(self, endpoint: Endpoint) -> asyncio.Task[ServiceStatus]:
        task = self._checks.get(endpoint.id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._check(endpoint))
            self._checks[endpoint.id] = task
        return task

    def _client(self, endpoint: Endpoint) -> AsyncClient:
        known = self._clients.get(endpoint.id)
        if known is not None and known[0] == endpoint:
            return known[1]
        if known is not None:
            asyncio.get_running_loop().create_task(known[1].close())
        client = endpoint.async_client(self.timeout)
        self._clients[endpoint.id] = (endpoint, client)
        return client

    async def _check(self, endpoint: Endpoint) -> ServiceStatus:
        client = self._client(endpoint)
        try:
            async with asyncio.timeout(self.timeout):
                info, traffic = await asyncio.gather(client.service_info(), self._traffic(endpoint))
            status = ServiceStatus(
                up=True,
                checked_at=time.monotonic(),
                info=info,
                request_rate=traffic.request_rate if traffic else None,
                p99_seconds=traffic.p99_seconds if traffic else None,
            )
        except (ClientError, TimeoutError) as error:
            message = str(error) or "no answer in time"
            status = ServiceStatus(up=False, checked_at=time.monotonic(), error=message)
        except ValueError as error:  # a bad address
            status = ServiceStatus(up=False, checked_at=time.monotonic(), error=str(error))
        self._cache[endpoint.id] = status
        return status

    async def _traffic(self, endpoint: Endpoint) -> metrics.Traffic | None:
        """Scrape the metrics endpoint; ``None`` without one, without two scrapes, or on error."""
        if not endpoint.metrics_url:
            return None
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        try:
            reply = await self._http.get(endpoint.metrics_url)
            reply.raise_for_status()
            sample = metrics.parse(reply.text)
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        samples = self._samples.setdefault(endpoint.id, [])
        samples.append(sample)
        del samples[:-2]
        return metrics.traffic(samples[0], samples[1]) if len(samples) == 2 else None

    async def close(self) -> None:
        for task in self._checks.values():
            task.cancel()
        for _, client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        if self._http is not None:
            await self._http.aclose()
