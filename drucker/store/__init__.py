"""The model store: uploaded models and evaluation data, the active-model record, the switch
history and evaluation results, behind one interface (:mod:`drucker.store.base`, which owns
the types) with two backends built the same way: a local directory
(:mod:`drucker.store.local`, the default) and object storage (:mod:`drucker.store.remote`,
fsspec: S3, GCS, a shared volume), chosen by :func:`drucker.store.backends.open_stores`."""

from drucker.store.base import StoredFile
from drucker.store.files import FileStore
from drucker.store.local import LocalFiles
from drucker.store.names import validate_name

__all__ = ["FileStore", "LocalFiles", "StoredFile", "validate_name"]
