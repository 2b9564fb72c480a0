"""A worker, and a replica of a shared store, follows the switches made through the others
(each served model's active record); a replica also follows the loads and unloads made
through the repository of the others.

Each interval it looks at the record's version (:class:`LoadedModels`, one HEAD on S3) and,
when it changed, reads the record and applies what changed since it last read it: a model
marked loaded is loaded here, one marked unloaded is unloaded. Its first read applies the
loads only, so a replica that starts with a model named at start keeps it even when a replica
unloaded it long ago. A change that cannot be applied now (a load or unload of the model under
way here) is tried again next time; one that fails (the model does not load) is logged and the
model stays ``UNAVAILABLE`` with the reason.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING

from drucker.errors import ConflictError, DruckerError, InUseError, NotFoundError
from drucker.events import EventLog
from drucker.models import ModelTable
from drucker.repository import Repository
from drucker.server.parent import supervisor_gone

if TYPE_CHECKING:  # object storage (fsspec) is the s3 extra's: imported only when used
    from drucker.store.remote.loaded import LoadedModels


class ModelsFollower:
    """Applies the shared record's changes to one server's repository."""

    def __init__(self, repository: Repository, record: LoadedModels, log: EventLog) -> None:
        self._repository = repository
        self._record = record
        self._log = log
        self._version: str | None = None
        self._seen: dict[str, bool] | None = None  # the record as last applied

    async def step(self) -> None:
        """Look at the record once and apply what changed.

        :raises DruckerError: when the store cannot be read.
        """
        version = await asyncio.to_thread(self._record.version)
        if version is not None and version == self._version and self._seen is not None:
            return
        record = await asyncio.to_thread(self._record.read)
        seen = self._seen
        pending = False
        for name, loaded in record.items():
            if seen is None and not loaded:
                continue  # a fresh replica keeps what it started with
            if seen is not None and seen.get(name) == loaded:
                continue
            if not await self._apply(name, loaded):
                pending = True
        if not pending:  # else read it again next time
            self._version, self._seen = version, record

    async def _apply(self, name: str, loaded: bool) -> bool:
        """Load or unload ``name`` here; False when it must be tried again later."""
        repository = self._repository
        served = name in repository.models
        try:
            if loaded and not served:
                await repository.load(name, following=True)
                self._log.info(f"loaded model {name}, following the model store", model=name)
            elif not loaded and served:
                await repository.unload(name, following=True)
                self._log.info(f"unloaded model {name}, following the model store", model=name)
        except ConflictError:
            return False  # a load or unload of it runs here: look again next time
        except (InUseError, NotFoundError) as error:
            self._log.warning(f"not following the store for model {name}: {error}", model=name)
        except DruckerError as error:  # it failed to load: UNAVAILABLE with the reason
            self._log.error(f"cannot follow the store's load of model {name}: {error}")
        return True

    async def run(self, interval: float) -> None:
        """:meth:`step` every ``interval`` seconds until cancelled (looking less often, at
        least every 10 s, while the store is out of reach)."""
        failures = 0
        while True:
            delay = max(interval, min(interval * 2**failures, 10.0)) if failures else interval
            await asyncio.sleep(delay)
            try:
                await self.step()
                failures = 0
            except DruckerError as error:
                failures += 1
                self._log.error(f"cannot follow the model store's repository record: {error}")


def follow_repository(
    repository: Repository, store_url: str, interval: float, log: EventLog
) -> asyncio.Task[None]:
    """Record this server's repository changes in the shared store at ``store_url`` and follow
    the other replicas' (a task, until cancelled).

    :raises StoreUnavailableError: when the URL's backend is not installed.
    """
    from drucker.store.remote.loaded import LoadedModels

    record = LoadedModels.at(store_url)
    repository.recorded = record.mark
    return asyncio.create_task(ModelsFollower(repository, record, log).run(interval))


async def follow_switches(models: ModelTable, log: EventLog) -> None:
    """Load a served model's active version from the store when another worker or replica
    switched it, for every model served at the time (until cancelled)."""
    loop = asyncio.get_running_loop()
    interval = models.default.runtime.settings.store_follow_interval
    failures = 0
    while True:
        # After failures (the store is down) look less often, but at least every 10 s.
        await asyncio.sleep(
            max(interval, min(interval * 2**failures, 10.0)) if failures else interval
        )
        if supervisor_gone():  # a worker whose supervisor died stops like on SIGTERM
            log.error("the supervisor is gone; stopping this worker")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        failed = False
        for served in models:
            manager = served.manager
            try:
                await loop.run_in_executor(None, manager.follow_store)
            except DruckerError as error:
                failed = True
                manager.runtime.log.error(
                    f"cannot follow the model store's active model: {error}",
                    model=served.name,
                    follow_failures=manager.follow_failures,
                )
        failures = failures + 1 if failed else 0
