"""A 20 ms model that waits without the GIL (a remote call, a GPU kernel), and counts its calls.

With ``DRUCKER_BENCH_CALLS_FILE`` set, the number of predictions made so far is written there
every 0.1 s, so a benchmark can compare the work done with the answers that reached callers.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import drucker
from drucker import PredictResult

PREDICT_SECONDS = 0.020
_calls = 0
_lock = threading.Lock()


def _report(path: Path) -> None:
    while True:
        time.sleep(0.1)
        path.write_text(str(_calls))


if os.environ.get("DRUCKER_BENCH_CALLS_FILE"):
    threading.Thread(
        target=_report, args=(Path(os.environ["DRUCKER_BENCH_CALLS_FILE"]),), daemon=True
    ).start()


@drucker.hookimpl
def drucker_load_model(model_path: str) -> str:
    return Path(model_path).name


@drucker.hookimpl
def drucker_predict(model: str, input: Any) -> PredictResult:
    """Wait ``PREDICT_SECONDS`` (GIL released), then answer the model's name."""
    global _calls
    time.sleep(PREDICT_SECONDS)
    with _lock:
        _calls += 1
    return PredictResult(label=model, score=1.0)
