"""The embedded default model of ``drucker demo``: logistic regression on iris."""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

SAMPLE_ROWS = (
    [5.1, 3.5, 1.4, 0.2],
    [6.4, 3.2, 4.5, 1.5],
    [7.7, 3.0, 6.1, 2.3],
)


def train_iris(model_path: Path) -> Path:
    """Fit a classifier with the species names as labels and save it with joblib."""
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target_names[iris.target])
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    return model_path
