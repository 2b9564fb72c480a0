"""Where predict calls run: on the event loop or in a thread, decided from their measured time.

Handing a prediction to a thread costs more than a quick model's whole predict (a wake-up and a
GIL hand-over each way), but a slow predict on the event loop holds up every other rpc, health
checks included. A :class:`Placement` measures the wall-clock time of the serving model's calls
in windows of ``WINDOW`` calls and answers :meth:`Placement.on_loop`:

- a model just loaded (or switched to) runs in threads for its first window, so a slow model
  never blocks the loop to find out that it is slow;
- after a window in threads with at most ``WINDOW // 4`` calls over the limit, calls run on the
  loop;
- on the loop, as soon as more than half of a window's calls are over the limit, calls go back
  to threads (a model that turned slow blocks the loop for ``WINDOW // 2 + 1`` calls at most).

Counting calls over the limit, rather than averaging, ignores the odd call that the operating
system pre-empted on a busy machine. Calls measured in a thread include waits for the GIL, so a
busy server errs towards threads, never towards the loop. Records may come from several threads
at once; a lost update only delays a decision.
"""

from __future__ import annotations

WINDOW = 8


class Placement:
    """Decides, per serving model, whether its predict calls run on the event loop."""

    def __init__(self, limit_seconds: float, threads: bool = True) -> None:
        """``limit_seconds`` 0 keeps calls in threads; ``threads`` False keeps them on the loop."""
        self._limit = limit_seconds
        self._threads = threads
        self._model: object = None
        self._loop = False
        self._calls = 0  # in the current window
        self._slow = 0  # calls of the current window over the limit

    @classmethod
    def fixed(cls, on_loop: bool) -> Placement:
        """A placement that never changes its answer."""
        return cls(0.0, threads=not on_loop)

    @property
    def threads(self) -> bool:
        """Whether calls may run in threads at all."""
        return self._threads

    @property
    def adaptive(self) -> bool:
        """Whether the answer depends on measurements."""
        return self._threads and self._limit > 0

    def on_loop(self, model: object) -> bool:
        """Whether the next call for ``model`` (the serving model's reference) runs on the loop.

        A different ``model`` than the last one asked about starts a new measurement, in threads.
        """
        if not self._threads:
            return True
        if self._limit <= 0:
            return False
        if model is not self._model:
            self._model, self._loop, self._calls, self._slow = model, False, 0, 0
        return self._loop

    def forget(self) -> None:
        """Drop the reference to the last model asked about (its model was unloaded)."""
        self._model, self._loop, self._calls, self._slow = None, False, 0, 0

    def record(self, model: object, seconds: float) -> None:
        """Account one call for ``model`` that took ``seconds`` (wall clock)."""
        if not self.adaptive or model is not self._model:
            return
        self._calls += 1
        if seconds > self._limit:
            self._slow += 1
        if self._loop and self._slow > WINDOW // 2:
            self._loop, self._calls, self._slow = False, 0, 0
        elif self._calls >= WINDOW:
            if not self._loop:
                self._loop = self._slow <= WINDOW // 4
            self._calls = self._slow = 0
