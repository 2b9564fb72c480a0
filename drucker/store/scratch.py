"""Temporary local files locked by their writer, and the sweep that removes the ones no writer
holds: an upload's bytes or a result's records on their way into a store.

The lock, not a process id, tells a live file from one whose writer died (``kill -9``, a lost
container): process ids repeat (a container's entrypoint is PID 1 on every start), while the
kernel releases a dead process's locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO


def open_locked(directory: Path, prefix: str = "") -> tuple[Path, IO[bytes]]:
    """A new file ``<prefix><pid>-<random>`` in ``directory``, exclusively locked for as long
    as it is open. A sweep may remove the file between its creation and its locking; then it is
    created again."""
    while True:
        path = directory / f"{prefix}{os.getpid()}-{os.urandom(6).hex()}"
        handle = path.open("xb")
        fcntl.flock(handle, fcntl.LOCK_EX)
        if os.fstat(handle.fileno()).st_nlink > 0:
            return path, handle
        handle.close()


def remove_unlocked(paths: Iterable[Path]) -> int:
    """Remove each of ``paths`` that no writer holds locked (left by writers that died); how
    many were removed."""
    removed = 0
    for path in paths:
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
