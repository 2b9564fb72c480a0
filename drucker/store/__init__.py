"""Stores for uploaded files (models, evaluation data) with a crash-safe index."""

from drucker.store.files import FileStore, StoredFile
from drucker.store.names import validate_name

__all__ = ["FileStore", "StoredFile", "validate_name"]
