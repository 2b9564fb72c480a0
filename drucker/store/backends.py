"""Choosing the store backend from the settings: a local directory, or object storage."""

from __future__ import annotations

import attrs

from drucker.settings import Settings
from drucker.store.base import ModelStore, NamedFiles, Results
from drucker.store.files import FileStore
from drucker.store.local import LocalModelStore


@attrs.frozen
class Stores:
    """The models and the evaluation data of one application."""

    models: ModelStore
    data: NamedFiles
    shared: bool  # other machines may change it (a replica follows its active model)
    results: Results | None = None  # None: evaluation results stay in app.evaldir


def open_stores(settings: Settings) -> Stores:
    """The stores named by ``store.url`` (default: ``app.modeldir`` and ``app.evaldir``).

    :raises StoreUnavailableError: when the URL's backend is not installed.
    """
    if not settings.store_url:
        models = LocalModelStore(FileStore(settings.model_store_dir, "model"))
        return Stores(models, FileStore(settings.eval_store_dir, "evaluation data"), False)
    # Imported here: fsspec is an optional extra, needed only for a store URL.
    from drucker.store.cache import ObjectCache
    from drucker.store.remote import RemoteFiles, RemoteModelStore, open_backend
    from drucker.store.remote_results import RemoteResults

    backend = open_backend(settings.store_url.rstrip("/") + "/" + settings.application_name)
    cache = ObjectCache(settings.cache_dir)
    data = RemoteFiles(backend, "data", "evaluation data", cache)
    results = RemoteResults(backend, cache.directory / "spool")
    return Stores(RemoteModelStore(backend, cache), data, True, results)
