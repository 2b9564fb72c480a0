"""Applying the stored traffic policies: once at start, then (replicas on a shared store,
workers) every ``store.follow_interval`` seconds, as switches are followed."""

from __future__ import annotations

import asyncio

from drucker.errors import DruckerError
from drucker.runtime import Runtime
from drucker.traffic.control import TrafficControl


async def follow_traffic(control: TrafficControl, runtime: Runtime, following: bool) -> None:
    """Apply the stored policies now, and again every follow interval when ``following``."""
    loop = asyncio.get_running_loop()
    log, interval = runtime.log, runtime.settings.store_follow_interval
    failures = 0
    while True:
        try:
            await loop.run_in_executor(None, control.follow)
            failures = 0
        except DruckerError as error:
            failures += 1
            if failures == 1:
                log.error(f"cannot apply the model store's traffic policy: {error}")
        if not following:
            return
        await asyncio.sleep(max(interval, min(interval * 2**failures, 10.0)))
