"""The status of many services, gathered concurrently with short deadlines and cached.

The checks run on the board's own event loop in its own thread, so gRPC calls to many services
never compete with page rendering for the web server's loop. While someone looks (a page or an
API call asked about a service within the last minute), the board re-checks it every ``ttl``
seconds in the background; a page reads the cache and waits at most ``wait`` seconds for a
service it has never seen, so a service that is down or slow never holds a page up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Iterable

import attrs
import httpx

import drucker.dashboard.metrics as metrics
from drucker.client import ClientError, ServiceInfo
from drucker.client.aio import AsyncClient
from drucker.dashboard.connect import Endpoint

WATCH_SECONDS = 60.0
MIN_SCRAPE_INTERVAL = 0.5  # a rate over a shorter interval says little: keep the last one


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
    """Cached, concurrent status checks of services (at most one per service at a time)."""

    def __init__(self, ttl: float = 2.0, timeout: float = 1.5) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[int, ServiceStatus] = {}
        self._watched: dict[int, tuple[Endpoint, float]] = {}
        self._checks: dict[int, asyncio.Task[ServiceStatus]] = {}
        self._clients: dict[int, tuple[Endpoint, AsyncClient]] = {}
        self._samples: dict[int, list[metrics.Sample]] = {}
        self._traffic_of: dict[int, metrics.Traffic | None] = {}
        self._http: httpx.AsyncClient | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="status-board", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._refresh_watched())
        self._loop.run_forever()

    # -- called from any thread or loop -------------------------------------------------------

    def cached(self, service_id: int) -> ServiceStatus | None:
        return self._cache.get(service_id)

    def forget(self, service_id: int) -> None:
        """Drop what is known of a service (after it changed or was removed)."""
        self._cache.pop(service_id, None)
        self._samples.pop(service_id, None)
        self._traffic_of.pop(service_id, None)
        self._watched.pop(service_id, None)

    def watch(self, endpoints: Iterable[Endpoint]) -> None:
        """Keep these services checked in the background (for the next minute)."""
        now = time.monotonic()
        for endpoint in endpoints:
            self._watched[endpoint.id] = (endpoint, now)
        self._loop.call_soon_threadsafe(self._kick)

    async def statuses(
        self, endpoints: Iterable[Endpoint], wait: float
    ) -> dict[int, ServiceStatus | None]:
        """The freshest status of each endpoint that is at hand after at most ``wait`` s.

        Only services never checked yet are waited for; stale ones are refreshed behind.
        """
        endpoints = list(endpoints)
        self.watch(endpoints)
        unknown = [e for e in endpoints if e.id not in self._cache]
        if unknown and wait > 0:
            futures = [
                asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._first(e), self._loop))
                for e in unknown
            ]
            await asyncio.wait(futures, timeout=wait)
        return {endpoint.id: self._cache.get(endpoint.id) for endpoint in endpoints}

    async def refresh(self, endpoint: Endpoint) -> ServiceStatus:
        """Check one service now (after a change), waiting for the answer."""
        future = asyncio.run_coroutine_threadsafe(self._fresh(endpoint), self._loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the checks and the board's thread."""
        if not self._loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- on the board's loop ------------------------------------------------------------------

    def _kick(self) -> None:
        """Start a check of every watched service whose status is missing or stale."""
        now = time.monotonic()
        for service_id, (endpoint, asked) in list(self._watched.items()):
            if now - asked > WATCH_SECONDS:
                del self._watched[service_id]
                continue
            status = self._cache.get(service_id)
            if status is None or now - status.checked_at >= self.ttl:
                self._check_once(endpoint)

    async def _refresh_watched(self) -> None:
        while True:
            self._kick()
            await asyncio.sleep(min(self.ttl, 1.0) if self.ttl > 0 else 0.5)

    async def _fresh(self, endpoint: Endpoint) -> ServiceStatus:
        """A new check, started after any under way (which may predate a change)."""
        self._watched[endpoint.id] = (endpoint, time.monotonic())
        task = self._loop.create_task(self._check(endpoint))
        self._checks[endpoint.id] = task
        return await task

    async def _first(self, endpoint: Endpoint) -> ServiceStatus:
        """The check under way for a service, or a new one."""
        return await self._check_once(endpoint)

    def _check_once(self, endpoint: Endpoint) -> asyncio.Task[ServiceStatus]:
        task = self._checks.get(endpoint.id)
        if task is None or task.done():
            task = self._loop.create_task(self._check(endpoint))
            self._checks[endpoint.id] = task
        return task

    def _client(self, endpoint: Endpoint) -> AsyncClient:
        known = self._clients.get(endpoint.id)
        if known is not None and known[0] == endpoint:
            return known[1]
        if known is not None:
            self._loop.create_task(known[1].close())
        client = endpoint.async_client(self.timeout)
        self._clients[endpoint.id] = (endpoint, client)
        return client

    async def _check(self, endpoint: Endpoint) -> ServiceStatus:
        try:
            client = self._client(endpoint)
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
        except ValueError as error:  # an address that cannot be resolved or parsed
            status = ServiceStatus(up=False, checked_at=time.monotonic(), error=str(error))
        if endpoint.id in self._watched or endpoint.id in self._cache:
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
        if samples and sample.at - samples[-1].at < MIN_SCRAPE_INTERVAL:
            return self._traffic_of.get(endpoint.id)
        samples.append(sample)
        del samples[:-2]
        traffic = metrics.traffic(samples[0], samples[1]) if len(samples) == 2 else None
        self._traffic_of[endpoint.id] = traffic
        return traffic

    async def _shutdown(self) -> None:
        for task in self._checks.values():
            task.cancel()
        for _, client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        if self._http is not None:
            await self._http.aclose()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
