"""A test plugin that echoes its input in the requested output kind.

Behaviour is steered through the request option:
``{"raise": "value"}`` raises ValueError, ``{"raise": "runtime"}`` RuntimeError,
``{"label": X, "score": Y}`` returns X and Y as they are, ``{"sleep": S}`` sleeps S seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import drucker
from drucker import Kind, PredictResult


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(str(v) for v in value)
    return str(value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    text = _as_text(value)
    return text.split(",") if text else []


def echo(value: Any, output_kind: Kind) -> Any:
    """The input converted to the output kind."""
    if output_kind is Kind.STRING:
        return _as_text(value)
    if output_kind is Kind.BYTES:
        return value if isinstance(value, bytes) else _as_text(value).encode("utf-8")
    items = _as_list(value)
    if output_kind is Kind.ARR_INT:
        return [int(float(v)) for v in items]
    if output_kind is Kind.ARR_FLOAT:
        return [float(v) for v in items]
    return [str(v) for v in items]


@drucker.hookimpl
def drucker_load_model(model_path: str) -> dict[str, str]:
    with open(model_path, encoding="utf-8") as handle:
        return {"name": handle.read().strip()}


@drucker.hookimpl
def drucker_predict(
    model: dict[str, str], input: Any, option: dict[str, Any], output_kind: Kind
) -> PredictResult:
    if "sleep" in option:
        time.sleep(float(option["sleep"]))
    if option.get("raise") == "value":
        raise ValueError("echo refuses this input")
    if option.get("raise") == "runtime":
        raise RuntimeError("echo broke")
    if "label" in option:
        return PredictResult(label=option["label"], score=option.get("score", 1.0))
    label = echo(input, output_kind)
    score = [0.5] * len(label) if output_kind.is_array else 0.5
    return PredictResult(
        label=label, score=score, option={"model": model["name"], "pid": os.getpid()}
    )
