"""The V2 answer's typing: the output kind a request asks for and the ``label`` and ``score``
tensors of the plugin's answers, typed by the model's signature (see
:mod:`drucker.protocol.v2.dataplane` for the rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from drucker.errors import InvalidInputError, OutputKindError
from drucker.kinds import Kind
from drucker.types import ModelSignature, PredictResult, TensorSpec

FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
INT_TYPES = frozenset(
    {"BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
)
# The datatypes a label of each kind can be answered as; the first is the default.
LABEL_DATATYPES: dict[Kind, tuple[str, ...]] = {
    Kind.STRING: ("BYTES",),
    Kind.BYTES: ("BYTES",),
    Kind.ARR_STRING: ("BYTES",),
    Kind.ARR_INT: ("INT32", "INT64", "INT16", "INT8", "UINT8", "UINT16", "UINT32", "UINT64"),
    Kind.ARR_FLOAT: ("FP32", "FP64", "FP16"),
}
SCORE_DATATYPES = ("FP32", "FP64", "FP16")


@attrs.frozen
class OutputTensor:
    """One answer tensor: ``data`` (numeric dtype, or ``object`` of ``bytes`` for BYTES)."""

    name: str
    datatype: str
    data: np.ndarray

    @property
    def shape(self) -> list[int]:
        """The tensor's shape as a list."""
        return list(self.data.shape)


def requested_output_kind(requested: Any, signature: ModelSignature) -> Kind:
    if requested is not None:
        try:
            return Kind(requested)
        except ValueError:
            kinds = ", ".join(kind.value for kind in Kind)
            raise InvalidInputError(f"parameter output_kind must be one of {kinds}") from None
    label = _spec(signature, "label")
    if label is None:
        return Kind.STRING
    if label.datatype in FLOAT_TYPES:
        return Kind.ARR_FLOAT
    if label.datatype in INT_TYPES:
        return Kind.ARR_INT
    return Kind.ARR_STRING if len(label.shape) > 1 else Kind.STRING


def _spec(signature: ModelSignature, name: str) -> TensorSpec | None:
    return next((spec for spec in signature.outputs if spec.name == name), None)


def row_outputs(
    results: list[PredictResult], output_kind: Kind, signature: ModelSignature
) -> dict[str, OutputTensor]:
    """The ``label`` and ``score`` tensors of per-row results, typed by the signature."""
    labels = [r.label for r in results]
    scores = [r.score for r in results]
    if output_kind.is_array:
        lengths = {len(label) for label in labels} | {len(score) for score in scores}
        if len(lengths) > 1:
            raise OutputKindError(
                f"rows answered with different numbers of labels or scores {sorted(lengths)}; "
                "a V2 output tensor needs equal lengths"
            )
    return tensor_outputs(labels, scores, output_kind, signature)


def tensor_outputs(
    labels: Sequence[Any] | np.ndarray,
    scores: Sequence[Any] | np.ndarray,
    output_kind: Kind,
    signature: ModelSignature,
) -> dict[str, OutputTensor]:
    """The ``label`` and ``score`` tensors of coerced labels and scores (one per row, or a row
    of them for the array kinds), typed by the signature."""
    label_spec, score_spec = _spec(signature, "label"), _spec(signature, "score")
    label_type = _datatype(label_spec, LABEL_DATATYPES[output_kind])
    score_type = _datatype(score_spec, SCORE_DATATYPES)
    label_array: np.ndarray
    if label_type == "BYTES" and output_kind.is_array:
        label_array = np.array(labels, dtype=object).reshape(len(labels), -1)
    elif label_type == "BYTES":
        label_array = np.empty(len(labels), dtype=object)
        label_array[:] = labels
    else:
        label_array = np.array(labels, dtype=_numpy_type(label_type))
    score_array = np.array(scores, dtype=_numpy_type(score_type))
    return {
        "label": OutputTensor("label", label_type, _fit(label_array, label_spec)),
        "score": OutputTensor("score", score_type, _fit(score_array, score_spec)),
    }


def _datatype(spec: TensorSpec | None, allowed: tuple[str, ...]) -> str:
    return spec.datatype if spec is not None and spec.datatype in allowed else allowed[0]


def _fit(array: np.ndarray, spec: TensorSpec | None) -> np.ndarray:
    """``[N, 1]`` answers as ``[N]`` when the signature declares a 1-d tensor."""
    if spec is not None and len(spec.shape) == 1 and array.ndim == 2 and array.shape[1] == 1:
        return array.reshape(-1)
    return array


_NUMPY_TYPES = {
    "BOOL": "?",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def _numpy_type(datatype: str) -> np.dtype[Any]:
    return np.dtype(_NUMPY_TYPES[datatype])
