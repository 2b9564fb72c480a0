"""Big V2 REST JSON bodies are decoded in worker processes, never on the event loop.

Parsing JSON (orjson) and turning its lists into numpy arrays hold the GIL from start to end:
a 57 MB body holds it for about a second, so a thread would stall the event loop (gRPC
health included) as much as decoding on the loop does. A request whose JSON part is at least
:data:`OFF_LOOP_BYTES` is therefore decoded by :func:`~.rest_codec.decode_infer` in a small
pool of worker processes (started on the first such request), which send back the decoded
tensors as numpy arrays (copied as raw bytes, milliseconds); smaller bodies, and the binary
tensors of a request with a small JSON header, are decoded where they are, in microseconds.

The body reaches the worker through a file (in ``/dev/shm`` when it has room), written from a
thread: ``os.write`` releases the GIL, whereas handing the bytes to the pool pickles them in
one call that holds it (about 65 ms for a 57 MB body on the 2-core machine, four bodies
queued back to back: measured with py-spy, the longest GIL hold of a big REST body).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
import tempfile

from drucker.protocol.v2 import rest_codec as codec

OFF_LOOP_BYTES = 1 << 20  # JSON of 1 MiB takes about 10 ms to parse: beyond it, off the loop
WORKERS = 2
# Where bodies wait for a worker: memory-backed when it has room for one more (a container's
# /dev/shm is 64 MB by default), else the temporary directory.
SHM_DIR = "/dev/shm"


class OffLoopDecoder:
    """Decodes inference bodies: small ones inline, big JSON in worker processes."""

    def __init__(self, threshold: int = OFF_LOOP_BYTES, workers: int = WORKERS) -> None:
        self.threshold = threshold
        self.offloaded = 0  # bodies decoded in a worker process so far
        self._workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def decode(
        self, body: bytes, header_length: int | None, model_name: str, model_version: str
    ) -> codec.DecodedInfer:
        """The decoded request (as :func:`~.rest_codec.decode_infer`, whose errors it raises)."""
        json_length = len(body) if header_length is None else header_length
        if json_length < self.threshold:
            return codec.decode_infer(body, header_length, model_name, model_version)
        if self._pool is None:  # spawned: no copy of this process's threads and locks
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(self._workers, context)
        self.offloaded += 1
        loop = asyncio.get_running_loop()
        try:
            path = await loop.run_in_executor(None, spool, body)
        except OSError:  # no room to spool it: pickled to the worker, as a last resort
            return await loop.run_in_executor(
                self._pool, codec.decode_infer, body, header_length, model_name, model_version
            )
        try:
            return await loop.run_in_executor(
                self._pool, decode_spooled, path, header_length, model_name, model_version
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # the worker removed it, unless it never ran

    def close(self) -> None:
        """Stop the worker processes (a later big body starts them again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def spool(body: bytes) -> str:
    """Write ``body`` to a new private file (without holding the GIL); its path.

    :raises OSError: when it cannot be written (no file is left behind).
    """
    directory = None
    with contextlib.suppress(OSError):
        shm = os.statvfs(SHM_DIR)
        if shm.f_bavail * shm.f_frsize > 2 * len(body):
            directory = SHM_DIR
    descriptor, path = tempfile.mkstemp(prefix="drucker-body-", dir=directory)
    try:
        with memoryview(body) as view:
            written = 0
            while written < len(view):
                written += os.write(descriptor, view[written:])
    except OSError:
        os.close(descriptor)
        os.unlink(path)
        raise
    os.close(descriptor)
    return path


def decode_spooled(
    path: str, header_length: int | None, model_name: str, model_version: str
) -> codec.DecodedInfer:
    """:func:`~.rest_codec.decode_infer` of the body :func:`spool` wrote (in a worker); the
    file is removed once read."""
    try:
        with open(path, "rb") as file:
            body = file.read()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return codec.decode_infer(body, header_length, model_name, model_version)
