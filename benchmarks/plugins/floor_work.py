"""A plugin doing exactly the floor server's model work (``benchmarks/floor_server.py``): one
``predict_proba`` call, the best class as text and its probability. Used to measure what the
framework adds to an rpc (``python -m benchmarks.handler_overhead``)."""

from typing import Any

import joblib
import numpy as np

import drucker
from drucker import PredictResult


@drucker.hookimpl
def drucker_load_model(model_path: str) -> Any:
    """The joblib file."""
    return joblib.load(model_path)


@drucker.hookimpl
def drucker_predict(model: Any, input: Any) -> PredictResult:
    """The floor's work for one row."""
    proba = model.predict_proba(np.asarray([input], dtype=np.float64))[0]
    best = int(proba.argmax())
    return PredictResult(label=str(model.classes_[best]), score=float(proba[best]))
