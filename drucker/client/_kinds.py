"""Predictions on the wire: the rpc for a Python input, its request messages, its answer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from drucker._wire import drucker_pb2
from drucker.kinds import Kind, rpc_name
from drucker.types import ModelSignature, PredictResult, TensorSpec

BYTES_CHUNK = 1024 * 1024  # the largest Bytes input message sent

Option = Mapping[str, Any] | str | None


def input_kind_of(value: Any) -> Kind:
    """The kind of a Python input: str, bytes, or a sequence or 1-D array of int/float/str."""
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, bytes | bytearray | memoryview):
        return Kind.BYTES
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return Kind.ARR_INT
        if value.dtype.kind == "f":
            return Kind.ARR_FLOAT
        if value.dtype.kind in "US":
            return Kind.ARR_STRING
        raise TypeError(f"cannot send a numpy array of dtype {value.dtype}")
    if isinstance(value, Sequence):
        if not value:
            raise TypeError("cannot tell the kind of an empty sequence: pass input_kind=")
        if all(isinstance(v, str) for v in value):
            return Kind.ARR_STRING
        if all(isinstance(v, int | np.integer) for v in value):
            return Kind.ARR_INT
        if all(isinstance(v, int | float | np.integer | np.floating) for v in value):
            return Kind.ARR_FLOAT
        raise TypeError("a sequence input must hold only str, or only int and float")
    raise TypeError(f"cannot send a {type(value).__name__}: use str, bytes or a sequence")


def as_kind(kind: Kind | str) -> Kind:
    """A Kind from a Kind or its name (``"ArrFloat"`` or ``"ARR_FLOAT"``)."""
    if isinstance(kind, Kind):
        return kind
    for member in Kind:
        if kind in (member.value, member.name):
            return member
    raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(k.value for k in Kind)}")


def option_text(option: Option) -> str:
    """The request's option JSON: a mapping is encoded, a str is sent as it is."""
    if isinstance(option, str):
        return option
    return json.dumps(dict(option)) if option else "{}"


def _wire_value(value: Any, kind: Kind) -> Any:
    if kind is Kind.BYTES:
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if isinstance(value, np.ndarray):
        if value.ndim > 1:
            raise ValueError(f"the protocol carries flat arrays; got shape {value.shape}")
        return value.tolist()
    if kind.is_array and isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return value


def _message(kind: Kind, value: Any, option: str) -> Any:
    message = getattr(drucker_pb2, f"{kind.wire_name}Input")
    try:
        return message(input=value, option=drucker_pb2.Option(val=option))
    except (TypeError, ValueError) as error:
        raise type(error)(f"cannot send this input as {kind.wire_name}: {error}") from None


def _chunks(data: bytes, option: str) -> Iterator[Any]:
    """A Bytes input as messages of at most ``BYTES_CHUNK`` bytes, the option on the first."""
    for start in range(0, max(len(data), 1), BYTES_CHUNK):
        yield drucker_pb2.BytesInput(
            input=data[start : start + BYTES_CHUNK],
            option=drucker_pb2.Option(val=option if start == 0 else ""),
        )


@attrs.frozen
class Prediction:
    """One prediction ready to send: which rpc, its request (an iterator for Bytes input)."""

    rpc: str
    input_kind: Kind
    output_kind: Kind
    request: Any


def prepare(
    value: Any, output: Kind | str, option: Option, input_kind: Kind | str | None
) -> Prediction:
    """Pick the rpc for ``value`` and ``output`` and build its request.

    :raises TypeError: or ``ValueError`` when the value does not fit the kind.
    """
    in_kind = as_kind(input_kind) if input_kind is not None else input_kind_of(value)
    out_kind = as_kind(output)
    wire = _wire_value(value, in_kind)
    text = option_text(option)
    if in_kind is Kind.BYTES:
        request: Any = _chunks(wire, text)
    else:
        request = _message(in_kind, wire, text)
    return Prediction(rpc_name(in_kind, out_kind), in_kind, out_kind, request)


def _option(text: str) -> dict[str, Any]:
    """The answer's option object (anything that is not a JSON object is kept as ``value``)."""
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"value": text}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def result_of(response: Any, kind: Kind) -> PredictResult:
    """The result of a unary answer of ``kind``."""
    if kind.is_array:
        label: Any = list(response.output)
        score: Any = list(response.score)
    else:
        label, score = response.output, response.score
    return PredictResult(label=label, score=score, option=_option(response.option.val))


def joined_bytes_result(messages: Sequence[Any]) -> PredictResult | None:
    """The result of a streamed Bytes answer (chunks joined), ``None`` if there was none."""
    if not messages:
        return None
    first = messages[0]
    label = b"".join(message.output for message in messages)
    return PredictResult(label=label, score=first.score, option=_option(first.option.val))


# The output kind whose label a V2 ``label`` tensor of this datatype carries.
_KIND_OF_LABEL_DATATYPE = {
    **dict.fromkeys(("FP16", "FP32", "FP64"), Kind.ARR_FLOAT),
    **dict.fromkeys(("INT8", "INT16", "INT32", "INT64"), Kind.ARR_INT),
    **dict.fromkeys(("UINT8", "UINT16", "UINT32", "UINT64"), Kind.ARR_INT),
    "BYTES": Kind.STRING,
}


def signature_of(reply: Any) -> ModelSignature:
    """The signature in an Open Inference ``ModelMetadataResponse``."""

    def specs(tensors: Any) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(t.name, t.datatype, tuple(t.shape), _content_type(t)) for t in tensors
        )

    return ModelSignature(inputs=specs(reply.inputs), outputs=specs(reply.outputs))


def _content_type(tensor: Any) -> str | None:
    """The ``content_type`` parameter of a tensor's metadata (``"str"``: text), if any."""
    if "content_type" not in tensor.parameters:
        return None
    return str(tensor.parameters["content_type"].string_param) or None


def output_kind_of(signature: ModelSignature | None) -> Kind:
    """The output kind a model's signature implies: from its ``label`` tensor's datatype.

    FP* → ``ArrFloat``, INT*/UINT* → ``ArrInt``, BYTES → ``String``; ``String`` when there is
    no signature, no ``label`` output or another datatype.
    """
    if signature is None:
        return Kind.STRING
    for tensor in signature.outputs:
        if tensor.name == "label":
            return _KIND_OF_LABEL_DATATYPE.get(tensor.datatype, Kind.STRING)
    return Kind.STRING
