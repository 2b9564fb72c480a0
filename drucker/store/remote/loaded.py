"""The repository's record on a shared store: which models were loaded or unloaded through
the repository API of any replica, so the others follow (as they follow switches).

One small JSON record at ``<store.url>/.repository.json`` (no model name starts with a dot)::

    {"models": {"<name>": {"loaded": true, "changed_at": 1764770000.0}, ...}}

changed only by compare-and-set (:meth:`Backend.update`), so two replicas changing different
models at once both land. Followers look at its ETag (one HEAD) each interval and read it only
when it changed.
"""

from __future__ import annotations

import time
from typing import Any

from drucker.store.remote.records import Backend, open_backend, remote_errors

RECORD = ".repository.json"


class LoadedModels:
    """The record of the models loaded and unloaded through the repository of any replica."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._path = backend.path(RECORD)

    @classmethod
    def at(cls, store_url: str) -> LoadedModels:
        """The record of the store at ``store_url`` (the root every model's store is under).

        :raises StoreUnavailableError: when the URL's backend is not installed.
        """
        return cls(open_backend(store_url))

    def mark(self, name: str, loaded: bool) -> None:
        """Record that ``name`` was loaded (``True``) or unloaded through a repository.

        :raises StoreUnavailableError: when the store cannot be written.
        """

        def change(record: Any) -> Any:
            models = dict((record or {}).get("models", {}))
            models[name] = {"loaded": loaded, "changed_at": time.time()}
            return {"models": models}

        with remote_errors(f"record the {'load' if loaded else 'unload'} of model {name!r}"):
            self._backend.update(self._path, change)

    def version(self) -> str | None:
        """A token that changes whenever the record does (its ETag, ``"absent"`` before the
        first write); ``None`` on a backend without ETags (then read it each time)."""
        if not self._backend.conditional_writes:
            return None
        with remote_errors("read the repository record's ETag"):
            return self._backend.etag(self._path) or "absent"

    def read(self) -> dict[str, bool]:
        """Whether each recorded model was last loaded (``True``) or unloaded.

        :raises StoreUnavailableError: when the store cannot be read.
        """
        with remote_errors("read the repository record"):
            record, _ = self._backend.read(self._path)
        models = (record or {}).get("models", {})
        return {str(name): bool(entry.get("loaded")) for name, entry in models.items()}
