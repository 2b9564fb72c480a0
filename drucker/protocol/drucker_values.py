"""Conversions between Drucker protocol messages and plain Python values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from drucker._wire import drucker_pb2
from drucker.errors import InvalidInputError
from drucker.kinds import Kind

INPUT_MESSAGES: dict[Kind, Any] = {
    kind: getattr(drucker_pb2, f"{kind.wire_name}Input") for kind in Kind
}
OUTPUT_MESSAGES: dict[Kind, Any] = {
    kind: getattr(drucker_pb2, f"{kind.wire_name}Output") for kind in Kind
}
_EMPTY_OPTIONS = frozenset({"", "{}"})


def parse_option(text: str) -> dict[str, Any]:
    """The request's option JSON as a dict; an absent or empty option is ``{}``.

    :raises InvalidInputError: when the text is not a JSON object, is nested too deeply or
        holds an integer too long to convert.
    """
    if text in _EMPTY_OPTIONS or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"option is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInputError("option is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InvalidInputError(f"option cannot be read: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"option must be a JSON object, got {type(value).__name__}")
    return value


def dump_option(option: dict[str, Any]) -> str:
    """The response's option JSON text (``{}`` for an empty dict)."""
    if not option:
        return "{}"
    try:
        return json.dumps(option)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the plugin's option is not JSON-serialisable: {exc}") from None


def input_value(request: Any, kind: Kind) -> Any:
    """The Python value of a unary request's ``input`` field.

    An array input is the message's repeated field itself, a list-like sequence (``len``,
    indexing, iteration, ``==`` with a list, ``numpy.asarray``), not a copy into a ``list``:
    a list of Python numbers costs eight times the message (15 million floats of a 60 MB
    request are 480 MB), which concurrent big requests multiply. A big ``ArrFloat`` input is a
    read-only float32 numpy array over the message's packed floats instead, a big ``ArrInt``
    input a read-only int32 array of its decoded varints (:mod:`drucker.protocol.packed`).
    """
    return request.input


def build_output(kind: Kind, label: Any, score: Any, option_text: str) -> Any:
    """One response message for a coerced label and score."""
    message = OUTPUT_MESSAGES[kind](output=label, score=score)
    if option_text:
        message.option.val = option_text
    return message


def chunk_bytes_output(label: bytes, score: float, option_text: str, chunk: int) -> Iterator[Any]:
    """The ``BytesOutput`` messages of a streamed Bytes answer.

    A label that fits in one chunk is one message (what 0.4.5 clients expect); a larger one is
    split, each message carrying the score and option so a reader of the first still has them.
    """
    for start in range(0, max(len(label), 1), chunk):
        yield drucker_pb2.BytesOutput(
            output=label[start : start + chunk],
            score=score,
            option=drucker_pb2.Option(val=option_text),
        )
