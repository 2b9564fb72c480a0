"""A text 'model' for typed V2 tests: the label is the text's length, declared as FP64.

Its signature declares a BYTES input of text (``content_type="str"``), so V2 clients send
BYTES and the plugin gets ``str`` with ``Kind.STRING``.
"""

from __future__ import annotations

from typing import Any

import drucker
from drucker import Kind, ModelSignature, PredictResult, TensorSpec


@drucker.hookimpl
def drucker_predict(input: Any, input_kind: Kind) -> PredictResult:
    if input_kind is not Kind.STRING or not isinstance(input, str):
        raise ValueError(f"the text model takes String, got {input_kind.value}")
    return PredictResult(label=[float(len(input))], score=[1.0])


@drucker.hookimpl
def drucker_signature() -> ModelSignature:
    return ModelSignature(
        inputs=(TensorSpec("text", "BYTES", (-1,), content_type="str"),),
        outputs=(TensorSpec("label", "FP64", (-1,)), TensorSpec("score", "FP32", (-1,))),
    )
