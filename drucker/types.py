"""Typed values that cross the boundary between plugins and the framework."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define(slots=True)
class PredictResult:
    """What a plugin's ``drucker_predict`` returns.

    ``label`` and ``score`` are coerced by the framework to the rpc's output kind: numpy
    scalars and arrays, tuples, and a scalar where a one-element array is wanted are accepted.
    ``option`` is a JSON-serialisable dict sent back in the response's ``option`` field.
    """

    label: Any
    score: Any
    option: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(slots=True)
class TensorResult:
    """What a plugin's ``drucker_predict_tensor`` returns: the answers of every row at once.

    ``labels`` and ``scores`` are array-likes (numpy arrays, lists) with one entry per input
    row, or for the array output kinds a row of entries per input row (an ``[N, k]`` array).
    They are coerced to the output kind as ``PredictResult``'s are, for all rows at once where
    the dtype allows. ``option`` is sent back as the response's parameters.
    """

    labels: Any
    scores: Any
    option: dict[str, Any] = attrs.field(factory=dict)


@attrs.define(slots=True)
class EvaluationDetail:
    """One evaluated sample, yielded by a plugin's ``drucker_evaluate``.

    ``label`` is the true label from the data, ``result`` what the model predicted.
    ``is_correct`` defaults to comparing ``label`` with ``result.label``.
    """

    input: Any
    label: Any
    result: PredictResult
    is_correct: bool | None = None

    def correct(self) -> bool:
        """Whether the prediction matched the true label."""
        if self.is_correct is not None:
            return self.is_correct
        return bool(_plain(self.label) == _plain(self.result.label))


def _plain(value: Any) -> Any:
    """Turn numpy scalars and arrays into plain Python values for comparison."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


@attrs.frozen
class TensorSpec:
    """A named tensor of the model's signature (Open Inference Protocol metadata).

    ``datatype`` is a V2 datatype name (``FP32``, ``INT64``, ``BYTES`` …); ``-1`` in ``shape``
    marks a dimension of variable size. ``content_type`` tells what a ``BYTES`` tensor holds,
    as MLServer's convention names it: ``"str"`` (UTF-8 text) or ``"bytes"`` (the default).
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    content_type: str | None = None


@attrs.frozen
class ModelSignature:
    """The input and output tensors a model declares, from the optional signature hook."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def _plain_model_name(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise ValueError(f"models: {value!r} is not a plain model name")


@attrs.frozen
class ModelSpec:
    """One entry of the ``models:`` section: a model served from the start, with its file,
    its own model plugin when it differs from ``--plugin``, and its own ``settings`` (batching,
    predict threads, admission …) over the server's."""

    name: str = attrs.field(validator=_plain_model_name)
    file: str = ""  # empty: the store's last switch, else <modeldir>/<name>/<app.modelfile>
    plugin: str = ""  # empty: the server's --plugin
    # the model's own values of the per-model keys (drucker.settings.PER_MODEL_KEYS), by key
    settings: dict[str, Any] = attrs.field(factory=dict, hash=False)
