"""Writing log lines in bunches, off the request's path.

A request only queues its record (the JSON plugin queues the prediction record, or the finished
line when the input is big); ``format_line`` turns the queued items into lines (UTF-8 bytes)
when they are written, straight to the stream's binary buffer when it has one. Queued on a
thread that runs an event loop (the server's, where quick predictions run), they are formatted
and written by that loop ``gather_seconds`` later, all with one ``write`` and one ``flush``: no
other thread is woken and no GIL changes hands per bunch, which cost the loop more than the
writing itself. Queued on any other thread (predict threads of a
slow model, an embedding application), a daemon writer thread wakes, waits ``gather_seconds``
for more, and writes them. Both drain one queue under one lock, so lines keep their order.

:meth:`BackgroundWriter.write_now` writes a record at once, after everything queued before it
(for records that must be on disk when the call returns, such as start-up and shutdown
events). At interpreter exit everything queued is written. When more than ``max_queued``
records wait (the stream is slower than the requests), the request that queues the next one
writes them itself, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO


class BackgroundWriter:
    """Queues records and writes their lines from a daemon thread, in order."""

    def __init__(
        self,
        format_line: Callable[[Any], bytes],
        stream: Callable[[], TextIO],
        gather_seconds: float = 0.05,
        max_queued: int = 10_000,
    ) -> None:
        """``format_line`` turns a record into its line (UTF-8, without newline); ``stream``
        gives the stream to write to (called at each write, so a replaced ``sys.stderr`` is
        followed)."""
        self._format = format_line
        self._stream = stream
        self._gather = gather_seconds
        self._max_queued = max_queued
        self._queued: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one writer at a time, lines in queue order
        self._thread: threading.Thread | None = None
        self._closed = False
        self._flush_due_on: asyncio.AbstractEventLoop | None = None
        self._exit_registered = False

    def queue(self, record: Any) -> None:
        """Write ``record`` soon: from the calling thread's event loop, or the writer thread."""
        self._queued.append(record)
        if self._closed or len(self._queued) > self._max_queued:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop on this thread
            if not self._wake.is_set():
                if self._thread is None:
                    self._start()
                self._wake.set()
            return
        if self._flush_due_on is not loop:  # none due, or due on a loop that has stopped
            if not self._exit_registered:  # a loop that stops leaves its last lines here
                self._exit_registered = True
                atexit.register(self.close)
            self._flush_due_on = loop
            loop.call_later(self._gather, self._flush_from_loop)

    def _flush_from_loop(self) -> None:
        self._flush_due_on = None
        try:
            self.flush()
        except Exception as exc:  # a broken stream must not break the event loop
            print(f"drucker log writer: {type(exc).__name__}: {exc}", file=sys.__stderr__)

    def write_now(self, record: Any) -> None:
        """Write everything queued, then ``record``, before returning."""
        with self._lock:
            self._write_queued(extra=record)

    def flush(self) -> None:
        """Write everything queued before returning."""
        with self._lock:
            self._write_queued()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="drucker-log-writer", daemon=True
                )
                self._thread.start()
                if not self._exit_registered:
                    self._exit_registered = True
                    atexit.register(self.close)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            if self._closed:
                break
            time.sleep(self._gather)  # let more records come
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # a broken stream must not stop the writer for good
                print(f"drucker log writer: {type(exc).__name__}: {exc}", file=sys.__stderr__)

    def _write_queued(self, extra: Any = None) -> None:
        # One growing buffer: joining a list of big lines costs more than formatting them.
        out = bytearray()
        queued = self._queued
        while queued:
            out += self._format(queued.popleft())
            out += b"\n"
        if extra is not None:
            out += self._format(extra)
            out += b"\n"
        if out:
            stream = self._stream()
            binary = getattr(stream, "buffer", None)
            if binary is None:
                stream.write(out.decode("utf-8", "replace"))
                stream.flush()
                return
            stream.flush()  # what was written as text goes first
            binary.write(out)
            binary.flush()

    def close(self) -> None:
        """Write what is queued and stop the thread (later records are written at once)."""
        self._closed = True
        self._wake.set()
        self.flush()
