"""A test plugin whose predictions can be held at a gate, for timing-free shutdown tests.

The request option steers it: ``{"entered": PATH}`` creates PATH when the prediction starts
(so a test sees it in flight), ``{"gate": PATH}`` holds the prediction until PATH exists (at
most a minute). The answer is the input, as text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import drucker
from drucker import PredictResult

GATE_LIMIT_SECONDS = 60.0


@drucker.hookimpl
def drucker_load_model(model_path: str) -> str:
    return Path(model_path).read_text(encoding="utf-8").strip()


@drucker.hookimpl
def drucker_predict(model: str, input: Any, option: dict[str, Any]) -> PredictResult:
    if "entered" in option:
        Path(option["entered"]).touch()
    if "gate" in option:
        gate, deadline = Path(option["gate"]), time.monotonic() + GATE_LIMIT_SECONDS
        while not gate.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"gate {gate} was not opened")
            time.sleep(0.01)
    text = input.decode("utf-8") if isinstance(input, bytes) else str(input)
    return PredictResult(label=text, score=1.0, option={"model": model})
