"""A test plugin whose versions answer differently: the model file's text decides.

The file holds ``LABEL`` or ``LABEL fail-half``: every input is answered ``LABEL`` with score
0.25 times the number of letters of LABEL; with ``fail-half``, inputs whose last character is an
odd digit raise ``RuntimeError`` (half of the inputs ``"0"`` … ``"9"``).
"""

from __future__ import annotations

from typing import Any

import drucker
from drucker import Kind, PredictResult


@drucker.hookimpl
def drucker_load_model(model_path: str) -> dict[str, Any]:
    with open(model_path, encoding="utf-8") as handle:
        words = handle.read().split()
    return {"label": words[0], "fail_half": "fail-half" in words[1:]}


@drucker.hookimpl
def drucker_predict(
    model: dict[str, Any], input: Any, option: dict[str, Any], output_kind: Kind
) -> PredictResult:
    text = input.decode() if isinstance(input, bytes) else str(input)
    if model["fail_half"] and text[-1:] in "13579" and text[-1:]:
        raise RuntimeError(f"version {model['label']} fails on {text!r}")
    return PredictResult(label=model["label"], score=0.25 * len(model["label"]))
