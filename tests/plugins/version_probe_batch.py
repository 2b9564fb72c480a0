"""The version probe (``version_probe.py``) with a batch hook: under a split the versions'
requests share the model's batch lanes, one plugin call per version in each batch."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import drucker
from drucker import Kind, PredictResult

_spec = importlib.util.spec_from_file_location(
    "drucker_test_version_probe", Path(__file__).with_name("version_probe.py")
)
assert _spec is not None and _spec.loader is not None
_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_probe)
drucker_load_model = _probe.drucker_load_model
drucker_predict = _probe.drucker_predict


@drucker.hookimpl
def drucker_predict_batch(
    model: dict[str, Any], inputs: list[Any], options: list[dict[str, Any]], output_kind: Kind
) -> list[PredictResult]:
    if model["fail_half"]:
        raise RuntimeError(f"version {model['label']} fails its batches")  # then one by one
    label = f"{model['label']}"
    return [PredictResult(label=label, score=0.25 * len(label)) for _ in inputs]
