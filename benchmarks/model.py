"""The benchmark model: logistic regression, 20 float features, 3 classes, fixed seed."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

FEATURES = 20


def train(path: Path) -> Path:
    """Fit and save the model (deterministic); return the path."""
    x, y = make_classification(
        n_samples=2000, n_features=FEATURES, n_informative=10, n_classes=3, random_state=0
    )
    model = LogisticRegression(max_iter=1000).fit(x, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


def sample_rows(count: int = 256) -> np.ndarray:
    """Rows to send, cycled by the load generator."""
    x, _ = make_classification(
        n_samples=count, n_features=FEATURES, n_informative=10, n_classes=3, random_state=1
    )
    return x.astype(np.float32)
