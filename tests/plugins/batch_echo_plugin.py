"""A test plugin with a batch hook: echoes inputs; a batch containing "bad" fails as a whole."""

from __future__ import annotations

import time
from typing import Any

import drucker
from drucker import Kind, PredictResult

BATCH_CALLS: list[int] = []


@drucker.hookimpl
def drucker_predict(input: Any) -> PredictResult:
    if input == "bad":
        raise ValueError("bad input")
    return PredictResult(label=f"one:{input}", score=1.0)


@drucker.hookimpl
def drucker_predict_batch(inputs: list[Any], output_kind: Kind) -> list[PredictResult]:
    BATCH_CALLS.append(len(inputs))
    time.sleep(0.02)  # long enough for concurrent requests to queue behind this batch
    if "bad" in inputs:
        raise ValueError("a bad input spoils the batch")
    return [PredictResult(label=f"batch:{value}", score=0.5) for value in inputs]
