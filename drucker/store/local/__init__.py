"""The local backend of the model store (the embedded default): named files in a directory
with a crash-safe index (:mod:`~.files`), the model store with its active-model record and
switch history (:mod:`~.models`) and evaluation results (:mod:`~.results`)."""

from drucker.store.local.files import LocalFiles, LocalUpload
from drucker.store.local.models import LocalModelStore
from drucker.store.local.results import LocalResults

__all__ = ["LocalFiles", "LocalModelStore", "LocalResults", "LocalUpload"]
