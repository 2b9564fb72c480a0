"""What every upload does while it streams: count, cap, hash and write the chunks."""

from __future__ import annotations

import hashlib
from typing import IO

from drucker.errors import InvalidInputError, TooLargeError


class Receiving:
    """The streaming half of an upload, shared by the local and the object-storage stores.

    Subclasses set ``name``, ``_max_bytes`` and ``_handle`` (the temporary file) and call
    :meth:`_verified_sha256` first in their ``commit``.
    """

    name: str
    _max_bytes: int
    _handle: IO[bytes] | None

    def _start_receiving(self) -> None:
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append a chunk. :raises TooLargeError: past the size limit."""
        assert self._handle is not None, "upload already finished"
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise TooLargeError(
                f"{self.name}: upload exceeds the maximum size of {self._max_bytes} bytes"
            )
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
