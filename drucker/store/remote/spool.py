"""Uploads to the object-storage backend, spooled to the replica's cache directory while they
stream in (the model is never held in memory) and hashed; on commit the store keeps them under
their digest (multipart on S3, done by s3fs) and only then indexes the name, so an interrupted
upload leaves no index entry."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from drucker.store.base import StoredFile, UploadRequest
from drucker.store.receiving import Receiving

SPOOL_DIRECTORY = "spool"  # under the cache directory

# Puts the spooled bytes into the store and indexes them: (spooled file, what it is, request).
Keep = Callable[[Path, StoredFile, UploadRequest], None]


class RemoteUpload(Receiving):
    """An upload spooled to local disk while it streams in, then kept by the store."""

    def __init__(self, request: UploadRequest, spool: Path, keep: Keep) -> None:
        self._keep = keep
        spool.mkdir(parents=True, exist_ok=True)
        path = spool / f"{os.getpid()}-{os.urandom(6).hex()}"
        super().__init__(request, path, path.open("xb"))

    def commit(self, expected_sha256: str | None = None) -> StoredFile:
        """Verify, then have the store keep the bytes and index them under the name."""
        sha256 = self._verified_sha256(expected_sha256)
        assert self._handle is not None
        self._handle.close()
        self._handle = None
        stored = StoredFile(self.name, self.size, sha256, time.time())
        self._keep(self._path, stored, self._request)
        return stored
