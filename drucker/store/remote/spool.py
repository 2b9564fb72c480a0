"""Uploads to the object-storage backend, spooled to the replica's cache directory while they
stream in (the model is never held in memory) and hashed; on commit the store keeps them under
their digest (multipart on S3, done by s3fs) and only then indexes the name, so an interrupted
upload leaves no index entry.

A spooled file is locked by its writer while it is open (:mod:`drucker.store.scratch`); opening
a remote store removes the ones no writer holds, left by processes that died mid-upload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from drucker.store.base import StoredFile, UploadRequest
from drucker.store.receiving import Receiving
from drucker.store.scratch import open_locked, remove_unlocked

SPOOL_DIRECTORY = "spool"  # under the cache directory

# Puts the spooled bytes into the store and indexes them: (spooled file, what it is, request).
Keep = Callable[[Path, StoredFile, UploadRequest], None]


class RemoteUpload(Receiving):
    """An upload spooled to local disk while it streams in, then kept by the store."""

    def __init__(self, request: UploadRequest, spool: Path, keep: Keep) -> None:
        self._keep = keep
        spool.mkdir(parents=True, exist_ok=True)
        super().__init__(request, *open_locked(spool))

    def commit(self, expected_sha256: str | None = None) -> StoredFile:
        """Verify, then have the store keep the bytes and index them under the name."""
        sha256 = self._verified_sha256(expected_sha256)
        assert self._handle is not None
        self._handle.flush()  # still open, so still locked while the store reads it
        stored = StoredFile(self.name, self.size, sha256, time.time())
        self._keep(self._path, stored, self._request)
        self.abort()  # the store has the bytes now: the spooled copy goes
        return stored


def sweep_spool(spool: Path) -> int:
    """Remove the spooled files of writers that died (no lock held); how many there were."""
    if not spool.is_dir():
        return 0
    return remove_unlocked(spool.iterdir())
