"""A plugin whose model loads only when the test releases it."""

from __future__ import annotations

import threading
from pathlib import Path

import drucker


class SlowLoader:
    """A plugin whose model loads only when the test says so."""

    def __init__(self) -> None:
        self.release = threading.Event()

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> str:
        self.release.wait(30)
        return Path(model_path).name

    @drucker.hookimpl
    def drucker_predict(self, model: str) -> drucker.PredictResult:
        return drucker.PredictResult(label=model, score=1.0)
