"""The server's memory policy: one object for everything that steers the heap and the collector.

Built once by the lifecycle and handed to those who act on it: the runtime gets :meth:`thaw`
(called when a model is replaced), the rpc guard :meth:`note_message` and :meth:`after_rpc`
(the trim after big messages), the V2 data plane :meth:`collector_paused` (big tensors).

- **settle** (:meth:`settle`): once the first model serves, ``gc.freeze`` takes what start-up
  made (modules, the plugin, the model) out of the cyclic collector. Those objects live as long
  as the process, but every full collection walked them all: about 65 ms for a scikit-learn
  model (about 115,000 objects), once in some 15 s under load, added to whichever requests were
  in flight. Frozen objects are still freed by reference counting.
- **thaw** (:meth:`thaw`): a replaced model may hold reference cycles, so the frozen heap goes
  back to the collector when a switch replaces the model.
- **pause** (:meth:`collector_paused`): the rows and results of a 100,000-row tensor are some
  500,000 container objects; each full collection they trigger walks them all while holding the
  GIL, which stalled the event loop (and health checks) for up to half a second at a time. They
  hold no cycles and are freed by reference counting when the request ends; the collector
  resumes when no big tensor is in flight.
- **trim** (:meth:`note_message`, :meth:`after_rpc`): glibc keeps freed heap memory of its
  per-thread arenas for reuse, so the buffers of a few requests near the message limit would
  stay resident long after they were freed. After an rpc ends while a big message was received,
  one ``malloc_trim`` is scheduled (at most one pending at a time, a little later, when the
  rpc's buffers are released). Without glibc there is nothing to trim.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any

BIG_MESSAGE_BYTES = 4 * 1024 * 1024
TRIM_DELAY_SECONDS = 0.2


def _malloc_trim() -> Callable[[int], Any] | None:
    """glibc's malloc_trim, looked up in the running process (no ldconfig subprocess)."""
    try:
        process = ctypes.CDLL(None)
    except OSError:
        return None
    return getattr(process, "malloc_trim", None)


class MemoryPolicy:
    """Settle, thaw, collector pause and trim for one serving process."""

    def __init__(self, *, trim: bool = True) -> None:
        self._trim = _malloc_trim() if trim else None
        self._lock = threading.Lock()  # big tensors are served from threads too
        self._paused = 0  # big tensors in flight
        self._resume = False  # whether the collector was on when the first pause began
        self.big_message_seen = False
        self._trim_scheduled = False

    # -- settle and thaw ---------------------------------------------------------------------

    def settle(self) -> None:
        """Freeze what start-up made out of the cyclic collector (once the model serves)."""
        gc.freeze()

    def thaw(self) -> None:
        """Give the frozen heap back to the collector (a model was replaced)."""
        if gc.get_freeze_count():
            gc.unfreeze()

    # -- the collector pause -----------------------------------------------------------------

    @contextlib.contextmanager
    def collector_paused(self) -> Iterator[None]:
        """The cyclic collector off while the block runs (and any other paused block)."""
        with self._lock:
            if self._paused == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1
                if self._paused == 0 and self._resume:
                    gc.enable()

    # -- trimming after big messages ---------------------------------------------------------

    def note_message(self, size: int) -> None:
        """Note a received message of ``size`` bytes."""
        if size >= BIG_MESSAGE_BYTES and self._trim is not None:
            self.big_message_seen = True

    def after_rpc(self) -> None:
        """An rpc ended: schedule a trim if a big message came since the last one."""
        if not self.big_message_seen or self._trim_scheduled:
            return
        self._trim_scheduled = True
        asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._run_trim)

    def _run_trim(self) -> None:
        """Trim in a thread: returning hundreds of MB to the system takes a while, and ctypes
        releases the GIL for it, so the event loop keeps answering meanwhile."""
        self._trim_scheduled = self.big_message_seen = False
        if self._trim is not None:
            threading.Thread(target=self._trim, args=(0,), name="malloc-trim", daemon=True).start()
