"""A worker process ends with its supervisor, even when the supervisor is killed with SIGKILL.

The supervisor names itself in the workers' environment. A worker asks the Linux kernel for
SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), checks right after that its parent is
still the supervisor (it may have died before), and keeps checking while it serves (for systems
without ``prctl``). SIGTERM makes the worker drain and stop like any other shutdown.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

SUPERVISOR_PID_ENV = "DRUCKER_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1


def supervisor_environment() -> dict[str, str]:
    """The environment of a worker started by this process."""
    return {**os.environ, SUPERVISOR_PID_ENV: str(os.getpid())}


def expected_supervisor() -> int | None:
    """The supervisor's pid, in a worker; ``None`` in a process nobody supervises."""
    text = os.environ.get(SUPERVISOR_PID_ENV, "")
    return int(text) if text.isdigit() else None


def supervisor_gone() -> bool:
    """Whether this worker's supervisor has died (it then has another parent)."""
    expected = expected_supervisor()
    return expected is not None and os.getppid() != expected


def die_with_supervisor() -> None:
    """In a worker: be sent SIGTERM when the supervisor dies; stop now if it died already."""
    if expected_supervisor() is None:
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if supervisor_gone():
        os.kill(os.getpid(), signal.SIGTERM)
