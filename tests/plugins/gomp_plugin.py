"""A test plugin that needs the system library libgomp.so.1 (as LightGBM does) at import.

Its model file holds a label; every prediction answers it, with OpenMP's processor count as
the score, so an answer proves the library was loaded and called.
"""

from __future__ import annotations

import ctypes
from typing import Any

import drucker
from drucker import PredictResult

# Raises OSError ("libgomp.so.1: cannot open shared object file") where it is missing.
_GOMP = ctypes.CDLL("libgomp.so.1")


@drucker.hookimpl
def drucker_load_model(model_path: str) -> str:
    with open(model_path, encoding="utf-8") as handle:
        return handle.read().strip()


@drucker.hookimpl
def drucker_predict(model: str, input: Any) -> PredictResult:
    return PredictResult(label=model, score=float(_GOMP.omp_get_num_procs()))
