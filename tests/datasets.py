"""Labelled data files the evaluation tests upload."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris


def write_iris_csv(path: Path, repeat: int = 1, noise: float = 0.0) -> Path:
    iris = load_iris()
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*iris.feature_names, "species"])
        for _ in range(repeat):
            rows = iris.data + rng.normal(0, noise, iris.data.shape) if noise else iris.data
            for row, target in zip(rows, iris.target, strict=True):
                writer.writerow([*row.round(3), iris.target_names[target]])
    return path
