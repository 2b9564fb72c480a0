"""The echo test plugin with a signature: the model file names the ``label`` datatype.

A model file ``FP64`` makes the signature's ``label`` output FP64, so clients that follow the
signature ask for ``ArrFloat``; the answers are those of :mod:`tests.plugins.echo_plugin`.
"""

from __future__ import annotations

from typing import Any

import drucker
from drucker import Kind, PredictResult
from tests.plugins.echo_plugin import echo


@drucker.hookimpl
def drucker_load_model(model_path: str) -> dict[str, str]:
    with open(model_path, encoding="utf-8") as handle:
        return {"label_datatype": handle.read().strip()}


@drucker.hookimpl
def drucker_signature(model: dict[str, str]) -> drucker.ModelSignature:
    return drucker.ModelSignature(
        inputs=(drucker.TensorSpec("input", "BYTES", (-1,), content_type="str"),),
        outputs=(
            drucker.TensorSpec("label", model["label_datatype"], (-1, -1)),
            drucker.TensorSpec("score", "FP32", (-1, -1)),
        ),
    )


@drucker.hookimpl
def drucker_predict(input: Any, output_kind: Kind) -> PredictResult:
    label = echo(input, output_kind)
    score = [0.5] * len(label) if output_kind.is_array else 0.5
    return PredictResult(label=label, score=score, option={"output_kind": output_kind.value})
