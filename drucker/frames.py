"""Detaching an exception from the frames it holds: the one helper every layer uses.

A caught exception keeps its traceback, and the traceback its frames with all their locals (the
request's input among them); a frame that still names the exception closes a reference cycle
that only a full garbage collection frees. For a request near the message limit that is
gigabytes held for minutes, so every place that keeps, re-raises or reports an exception it
caught passes it through :func:`detach` first.
"""

from __future__ import annotations

import traceback
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


def detach(error: E) -> E:
    """``error`` with its finished frames cleared and no traceback, cause or context.

    Frames still executing (the caller's) are left alone. Returns ``error`` itself.
    """
    traceback.clear_frames(error.__traceback__)
    error.__traceback__ = None
    error.__cause__ = error.__context__ = None
    return error
