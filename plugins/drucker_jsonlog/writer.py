"""Writing log lines from a background thread, so a request only queues its record.

Records are kept as they are (not formatted) until the writer thread takes them: it wakes when
the first record of a quiet spell arrives, waits ``gather_seconds`` for more, then formats and
writes them all with one ``write`` and one ``flush``. Formatting, encoding and the system call
leave the request's path; what is left there is one ``deque.append``.

:meth:`BackgroundWriter.write_now` writes a record at once, after everything queued before it
(for records that must be on disk when the call returns, such as start-up and shutdown
events). At interpreter exit everything queued is written. When more than ``max_queued``
records wait (the stream is slower than the requests), the request that queues the next one
writes them itself, so memory stays bounded.
"""

from __future__ import annotations

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
        format_line: Callable[[Any], str],
        stream: Callable[[], TextIO],
        gather_seconds: float = 0.05,
        max_queued: int = 10_000,
    ) -> None:
        """``format_line`` turns a record into its line (without newline); ``stream`` gives the
        stream to write to (called at each write, so a replaced ``sys.stderr`` is followed)."""
        self._format = format_line
        self._stream = stream
        self._gather = gather_seconds
        self._max_queued = max_queued
        self._queued: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one writer at a time, lines in queue order
        self._thread: threading.Thread | None = None
        self._closed = False

    def queue(self, record: Any) -> None:
        """Write ``record`` soon, from the writer thread."""
        self._queued.append(record)
        if self._closed or len(self._queued) > self._max_queued:
            self.flush()
        elif not self._wake.is_set():
            if self._thread is None:
                self._start()
            self._wake.set()

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
        lines = []
        queued = self._queued
        while queued:
            lines.append(self._format(queued.popleft()))
        if extra is not None:
            lines.append(self._format(extra))
        if lines:
            stream = self._stream()
            stream.write("\n".join(lines) + "\n")
            stream.flush()

    def close(self) -> None:
        """Write what is queued and stop the thread (later records are written at once)."""
        self._closed = True
        self._wake.set()
        self.flush()
