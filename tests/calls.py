"""Calling the Drucker worker rpcs over a real channel with our generated stubs."""

from __future__ import annotations

from typing import Any

import attrs
import grpc

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.kinds import Kind, rpc_name

SAMPLE_INPUTS: dict[Kind, Any] = {
    Kind.STRING: "1,2,3",
    Kind.BYTES: b"1,2,3",
    Kind.ARR_INT: [1, 2, 3],
    Kind.ARR_FLOAT: [1.5, 2.5, 3.0],
    Kind.ARR_STRING: ["1", "2", "3"],
}


@attrs.frozen
class Answer:
    label: Any
    score: Any
    option: str
    messages: int = 1


def call(
    channel: grpc.Channel,
    input_kind: Kind,
    output_kind: Kind,
    value: Any,
    option: str = "{}",
    *,
    chunks: list[bytes] | None = None,
    timeout: float = 10,
) -> Answer:
    """Call ``Predict_<In>_<Out>`` and gather the answer, joining streamed Bytes chunks."""
    stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
    method = getattr(stub, rpc_name(input_kind, output_kind))
    request: Any
    if input_kind is Kind.BYTES:
        parts = chunks if chunks is not None else [value]
        request = iter(
            drucker_pb2.BytesInput(
                input=part, option=drucker_pb2.Option(val=option if i == 0 else "")
            )
            for i, part in enumerate(parts)
        )
    else:
        message = getattr(drucker_pb2, f"{input_kind.wire_name}Input")
        request = message(input=value, option=drucker_pb2.Option(val=option))
    response = method(request, timeout=timeout)
    if output_kind is Kind.BYTES:
        messages = list(response)
        return Answer(
            label=b"".join(m.output for m in messages),
            score=messages[0].score,
            option=messages[0].option.val,
            messages=len(messages),
        )
    label = list(response.output) if output_kind.is_array else response.output
    score = list(response.score) if output_kind.is_array else response.score
    return Answer(label=label, score=score, option=response.option.val)
