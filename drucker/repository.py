"""The model repository: which models a server holds, and loading and unloading them while it
serves (the Open Inference Protocol's repository extension, over :class:`ModelTable`).

States are the protocol's: ``READY`` (served), ``LOADING``, ``UNLOADING`` and ``UNAVAILABLE``
(in the store but not served, with the reason: never loaded, unloaded, or the load's failure).
A load or unload of one model at a time: a second one while it runs is ``ABORTED``; other
models serve on meanwhile. Loading a served model reloads its serving version in place (the
same atomic swap as a switch).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import attrs

from drucker.errors import ConflictError, DruckerError, InUseError, NotFoundError
from drucker.models import ModelTable, ServedModel
from drucker.store.names import validate_name

READY, UNAVAILABLE, LOADING, UNLOADING = "READY", "UNAVAILABLE", "LOADING", "UNLOADING"

# Builds and loads a model that is not served (blocking: run in a thread); raises
# ``NotFoundError`` when the store does not hold it.
Build = Callable[[str], ServedModel]


@attrs.frozen
class ModelState:
    """One row of the repository index."""

    name: str
    version: str
    state: str
    reason: str = ""


class Repository:
    """Index, load and unload over the served models; ``stored`` lists the models the store
    holds (served or not); ``grace`` is how long requests in flight on an unloaded model get;
    a ``refusal`` refuses every load and unload with that reason (``FAILED_PRECONDITION``);
    ``unlisted`` models serve but are not the repository's: left out of the index, and a load
    or unload of one is ``NOT_FOUND`` (an engine that manages the repository never sees them);
    ``retired`` is told the name of each model unloaded once its grace has passed;
    ``recorded`` (blocking) records each load and unload made here in a shared store, for the
    other replicas to follow (:meth:`load` and :meth:`unload` with ``following`` do not);
    ``loaded`` (blocking) is told the name of each model loaded or reloaded, once it serves
    (its stored traffic policy routes it again)."""

    def __init__(
        self,
        models: ModelTable,
        build: Build,
        stored: Callable[[], list[str]],
        grace: float = 5.0,
        reload: Callable[[ServedModel], object] | None = None,
        refusal: str = "",
        unlisted: frozenset[str] = frozenset(),
        retired: Callable[[str], object] | None = None,
        recorded: Callable[[str, bool], object] | None = None,
        loaded: Callable[[str], object] | None = None,
    ) -> None:
        self.models = models
        self._build = build
        self._stored = stored
        self._grace = grace
        self._reload = reload or (lambda served: served.manager.load_initial(None))
        self._states: dict[str, ModelState] = {}  # models not served now
        self._busy: set[str] = set()
        self._refusal = refusal  # why loads and unloads are refused here ("": they are not)
        self._unlisted = unlisted
        self._retired = retired  # told the name of each model unloaded (its series go)
        self.recorded = recorded  # writes a load (True) or unload for the replicas to follow
        self.loaded = loaded

    def index(self, ready_only: bool = False) -> list[ModelState]:
        """Every model: the served ones, then those of the store (or a failed load) not served."""
        rows = []
        for served in self.models:
            active, reason = served.runtime.active, served.runtime.not_loaded_reason
            if active is None and reason:  # it will not load: the server started without it
                rows.append(ModelState(served.name, "", UNAVAILABLE, reason))
                continue
            state = READY if active is not None else LOADING
            rows.append(ModelState(served.name, active.name if active else "", state))
        known = set(self.models.names())
        stored = self._stored()
        # An unloaded or failed model stays listed while the store holds it; once it is gone
        # (Seldon's agent deletes the folder after an unload) its row goes too.
        for name in [n for n, row in self._states.items() if row.state == UNAVAILABLE]:
            if name not in stored:
                del self._states[name]
        others = dict(self._states)
        for name in stored:
            if name not in known and name not in others:
                others[name] = ModelState(name, "", UNAVAILABLE, "not loaded")
        rows += [row for name, row in sorted(others.items()) if name not in known]
        rows = [row for row in rows if row.name not in self._unlisted]
        return [row for row in rows if row.state == READY] if ready_only else rows

    async def load(self, name: str, *, starting: bool = False, following: bool = False) -> None:
        """Serve model ``name`` from the store (reload it when it serves already); ``starting``
        (the server's start, which every worker makes) and ``following`` (another replica's
        load, read from the shared store) are not refused, nor recorded.

        :raises InvalidNameError: for a name that is not a plain name.
        :raises NotFoundError: when the store does not hold it.
        :raises ConflictError: while another load or unload of it runs.
        :raises InUseError: on a server that refuses loads (one of several workers).
        :raises ModelLoadError: when it fails to load (then it is ``UNAVAILABLE``).
        :raises StoreUnavailableError: when it serves here but the shared store could not
            record it (the other replicas do not follow; a retry reloads it and records it).
        """
        local = starting or following
        with self._claim(name, refuse=not local):
            served = self.models.find(name)
            if served is not None:
                await asyncio.to_thread(self._reload, served)
            else:
                self._states[name] = ModelState(name, "", LOADING)
                try:
                    served = await asyncio.to_thread(self._build, name)
                except NotFoundError:
                    del self._states[name]
                    raise
                except DruckerError as error:
                    self._states[name] = ModelState(name, "", UNAVAILABLE, str(error))
                    raise
                self.models.add(served)
                del self._states[name]
            if self.loaded is not None:
                await asyncio.to_thread(self.loaded, name)
            if self.recorded is not None and not local:
                await asyncio.to_thread(self.recorded, name, True)

    async def unload(self, name: str, *, following: bool = False) -> None:
        """Stop serving ``name``: later requests get ``NOT_FOUND``; those in flight get the
        grace period to finish before its threads stop and its memory is returned.
        ``following`` (another replica's unload, read from the shared store) is not refused,
        nor recorded.

        :raises NotFoundError: when it is not served.
        :raises InUseError: for the default model (requests naming no model need it).
        :raises ConflictError: while another load or unload of it runs.
        :raises StoreUnavailableError: when the shared store cannot record it (it is recorded
            before it is unloaded, so then it still serves here and a retry is safe).
        """
        with self._claim(name, refuse=not following):
            served = self.models.find(name)
            if served is None:
                raise NotFoundError(self.models.unknown(name))
            if served is self.models.default:
                raise InUseError(
                    f"model {name!r} is the default model (requests naming no model go to it) "
                    "and cannot be unloaded"
                )
            if self.recorded is not None and not following:
                await asyncio.to_thread(self.recorded, name, False)
            self.models.remove(name)
            self._states[name] = ModelState(name, "", UNLOADING)
            asyncio.get_running_loop().call_later(self._grace, self._retire, served)

    def _retire(self, served: ServedModel) -> None:
        """Stop an unloaded model's threads and drop its loaded versions."""
        served.dispatcher.drain()
        served.dispatcher.close()
        runtime = served.runtime
        active = runtime.active
        if active is not None:
            runtime.models.remove(served.name, active.name)
        runtime.active = None
        if runtime.thaw is not None:
            runtime.thaw()
        if self._retired is not None and served.name not in self.models:
            self._retired(served.name)
        gc.collect()
        if self._states.get(served.name, None) is not None and served.name not in self.models:
            self._states[served.name] = ModelState(served.name, "", UNAVAILABLE, "unloaded")

    def _claim(self, name: str, refuse: bool = True) -> _Claim:
        validate_name(name, "model name")
        if name in self._unlisted:
            raise NotFoundError(f"model {name!r} is not one of the repository's models")
        if refuse and self._refusal:
            raise InUseError(self._refusal)
        return _Claim(self._busy, name)


class _Claim:
    """Holds ``name`` in ``busy`` for one operation (``ConflictError`` when it is held)."""

    def __init__(self, busy: set[str], name: str) -> None:
        self._busy, self._name = busy, name

    def __enter__(self) -> None:
        if self._name in self._busy:
            raise ConflictError(f"a load or unload of model {self._name!r} is under way")
        self._busy.add(self._name)

    def __exit__(self, *exc: object) -> None:
        self._busy.discard(self._name)
