"""Choosing the store backend from the settings: a local directory, or object storage; and
fetching a model file given by URL, which needs the object-storage extra too."""

from __future__ import annotations

from pathlib import Path

import attrs

from drucker.settings import Settings
from drucker.store.base import ModelStore, NamedFiles, Results
from drucker.store.local import LocalFiles, LocalModelStore, LocalResults

RESULTS_DIRECTORY = ".results"  # a name no upload can take (names start with a letter or digit)


@attrs.frozen
class Stores:
    """The models, the evaluation data and the evaluation results of one application."""

    models: ModelStore
    data: NamedFiles
    shared: bool  # other machines may change it (a replica follows its active model)
    results: Results


def open_stores(settings: Settings) -> Stores:
    """The stores named by ``store.url`` (default: ``app.modeldir`` and ``app.evaldir``, with
    evaluation results in the evaluation data's ``.results``).

    :raises StoreUnavailableError: when the URL's backend is not installed.
    """
    if not settings.store_url:
        models = LocalModelStore(settings.model_store_dir, "model")
        data = LocalFiles(settings.eval_store_dir, "evaluation data")
        results = LocalResults(settings.eval_store_dir / RESULTS_DIRECTORY)
        return Stores(models, data, False, results)
    # Imported here: fsspec is an optional extra, needed only for a store URL.
    from drucker.store.cache import ObjectCache
    from drucker.store.remote import RemoteFiles, RemoteModelStore, RemoteResults, open_backend
    from drucker.store.remote.spool import SPOOL_DIRECTORY

    backend = open_backend(settings.store_url.rstrip("/") + "/" + settings.application_name)
    cache = ObjectCache(settings.cache_dir)
    remote_data = RemoteFiles(backend, "data", "evaluation data", cache)
    remote_results = RemoteResults(backend, cache.directory / SPOOL_DIRECTORY)
    return Stores(RemoteModelStore(backend, cache), remote_data, True, remote_results)


def fetch_model(settings: Settings, url: str, sha256: str | None) -> tuple[Path, str]:
    """The model file at ``url`` (``s3://…``, ``gs://…``, ``file://…``), copied into the cache
    and verified against ``sha256`` when given; its local path and the URL as it may be logged
    (without credentials).

    :raises StoreUnavailableError: when the URL's backend is not installed or cannot be read.
    :raises NotFoundError: when there is nothing at ``url``.
    """
    from drucker.store.cache import ObjectCache  # an optional extra, as above
    from drucker.store.remote import fetch_url, redact

    path, _sha256 = fetch_url(url, ObjectCache(settings.cache_dir), sha256)
    return path, redact(url)
