"""A test plugin with a tensor hook whose answer the request's ``mode`` parameter picks.

``echo`` (the default) answers each row's first element as its label and its sum as its score,
and says in the answer's parameters what the hook got; it rejects rows whose first element is
negative, and takes ``delay[0]`` seconds (so concurrent requests queue behind a call). The other
modes answer wrongly in one way each.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import drucker
from drucker import Kind, PredictResult, TensorResult

received: list[tuple[str, tuple[int, ...], bool]] = []  # (dtype, shape, writeable) per call
delay = [0.0]


@drucker.hookimpl
def drucker_predict(input: Any) -> PredictResult:
    return PredictResult(label=str(input[0]), score=float(sum(input)))


@drucker.hookimpl
def drucker_predict_tensor(
    inputs: np.ndarray, option: dict[str, Any], input_kind: Kind, output_kind: Kind
) -> Any:
    received.append((inputs.dtype.str, inputs.shape, bool(inputs.flags.writeable)))
    mode = option.get("mode", "echo")
    rows = len(inputs)
    if mode == "reject":
        raise ValueError("these rows are not for this model")
    if mode == "crash":
        raise RuntimeError("the model broke")
    if mode == "not-a-result":
        return [PredictResult(label="x", score=1.0)] * rows
    if mode == "short":
        return TensorResult(labels=np.zeros(rows - 1), scores=np.zeros(rows - 1))
    if mode == "text-for-numbers":
        return TensorResult(labels=np.array(["a"] * rows), scores=np.zeros(rows))
    if mode == "ragged":
        labels = np.empty(rows, dtype=object)
        labels[:] = [[1] * (index + 1) for index in range(rows)]
        return TensorResult(labels=labels, scores=labels)
    time.sleep(delay[0])
    if (inputs[:, 0] < 0).any():
        raise ValueError("a negative first feature")
    labels = inputs[:, 0]
    if output_kind is Kind.STRING:
        labels = labels.astype(str)
    return TensorResult(
        labels=labels,
        scores=inputs.astype(np.float64).sum(axis=1),
        option={"dtype": inputs.dtype.name, "kind": input_kind.value},
    )
