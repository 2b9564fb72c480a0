"""Train a small iris classifier and save what `drucker serve` and `drucker evaluate` need.

python examples/iris/train.py            # writes model/iris/iris.joblib and eval/iris.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

HERE = Path(__file__).parent


def main() -> None:
    """Fit on 70% of iris, save the model, and write the other 30% as evaluation CSV."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=HERE / "model" / "iris" / "iris.joblib")
    parser.add_argument("--eval-data", type=Path, default=HERE / "eval" / "iris.csv")
    args = parser.parse_args()

    iris = load_iris()
    names = iris.target_names[iris.target]  # string labels: "setosa", "versicolor", ...
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, names, test_size=0.3, random_state=0, stratify=names
    )
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)

    args.model.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model)
    args.eval_data.parent.mkdir(parents=True, exist_ok=True)
    with args.eval_data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*iris.feature_names, "species"])
        writer.writerows([*row, label] for row, label in zip(x_test, y_test, strict=True))
    print(f"model: {args.model}  (test accuracy {model.score(x_test, y_test):.3f})")
    print(f"evaluation data: {args.eval_data}")


if __name__ == "__main__":
    main()
