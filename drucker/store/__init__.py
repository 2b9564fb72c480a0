"""The model store: uploaded models and evaluation data, the active-model record, the switch
history and evaluation results, behind one interface (:mod:`drucker.store.base`) with a local
directory backend (:mod:`drucker.store.local`, the default) and an object-storage backend
(:mod:`drucker.store.remote`, fsspec: S3, GCS, a shared volume) chosen by
:func:`drucker.store.backends.open_stores`."""

from drucker.store.files import FileStore, StoredFile
from drucker.store.names import validate_name

__all__ = ["FileStore", "StoredFile", "validate_name"]
