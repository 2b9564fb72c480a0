"""A slow model that holds the GIL: each prediction computes in Python for 20 ms.

It answers like ``drucker_sklearn`` (the same model file), after the 20 ms.
"""

from __future__ import annotations

import time
from typing import Any

import drucker_sklearn
from drucker_sklearn import drucker_load_model, drucker_signature

import drucker
from drucker import Kind, PredictResult

PREDICT_SECONDS = 0.020

__all__ = ["drucker_load_model", "drucker_predict", "drucker_signature"]


@drucker.hookimpl
def drucker_predict(model: Any, input: Any, input_kind: Kind, output_kind: Kind) -> PredictResult:
    """Spin in Python (holding the GIL) for ``PREDICT_SECONDS``, then predict."""
    until = time.perf_counter() + PREDICT_SECONDS
    spins = 0
    while time.perf_counter() < until:
        spins += 1
    return drucker_sklearn.drucker_predict(model, input, input_kind, output_kind)
