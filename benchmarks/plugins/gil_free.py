"""A slow model that releases the GIL, as numpy-heavy models do: each prediction multiplies
256x256 matrices (BLAS runs without the GIL) about 20 ms long on one core of the benchmark
machine (the benchmark sets ``OPENBLAS_NUM_THREADS=1``), then answers like ``drucker_sklearn``.

The work is a fixed number of products, not a duration, so every target does the same work.
"""

from __future__ import annotations

from typing import Any

import drucker_sklearn
import numpy as np
from drucker_sklearn import drucker_load_model, drucker_signature

import drucker
from drucker import Kind, PredictResult

PRODUCTS = 12
_MATRIX = np.random.default_rng(0).random((256, 256))

__all__ = ["drucker_load_model", "drucker_predict", "drucker_signature"]


@drucker.hookimpl
def drucker_predict(model: Any, input: Any, input_kind: Kind, output_kind: Kind) -> PredictResult:
    """``PRODUCTS`` matrix products (without the GIL), then predict."""
    product = _MATRIX
    for _ in range(PRODUCTS):
        product = _MATRIX @ product
        product /= product[0, 0]
    return drucker_sklearn.drucker_predict(model, input, input_kind, output_kind)
