"""What every upload does while it streams: count, cap, hash and write the chunks to a
temporary local file, which :meth:`Receiving.abort` removes."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import IO, Self

from drucker.errors import InvalidInputError, TooLargeError
from drucker.store.base import UploadRequest


class Receiving:
    """The streaming half of an upload, shared by the local and the object-storage stores.

    A backend's upload opens its temporary file, hands it here, and calls
    :meth:`_verified_sha256` first in its ``commit``.
    """

    def __init__(self, request: UploadRequest, path: Path, handle: IO[bytes]) -> None:
        self.name = request.name
        self._request = request
        self._path = path
        self._handle: IO[bytes] | None = handle
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append a chunk. :raises TooLargeError: past the size limit."""
        assert self._handle is not None, "upload already finished"
        self.size += len(chunk)
        limit = self._request.max_bytes
        if self.size > limit:
            raise TooLargeError(f"{self.name}: upload exceeds the maximum size of {limit} bytes")
        self._digest.update(chunk)
        self._handle.write(chunk)

    def _verified_sha256(self, expected_sha256: str | None) -> str:
        """The received bytes' sha256. :raises InvalidInputError: when it is not ``expected``."""
        assert self._handle is not None, "upload already finished"
        sha256 = self._digest.hexdigest()
        if expected_sha256 and expected_sha256.lower() != sha256:
            raise InvalidInputError(
                f"{self.name}: sha256 mismatch: expected {expected_sha256}, received {sha256}"
            )
        return sha256

    def abort(self) -> None:
        """Drop the temporary file; the store is left as it was.

        The file is removed before it is closed (while its writer still holds it), and also
        when closing fails (a full disk fails the final flush).
        """
        handle, self._handle = self._handle, None
        try:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
        finally:
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()
