"""The five value kinds of the Drucker protocol, shared by the wire and the plugins."""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    """The type of an rpc's input or output, named as in the ``Predict_<In>_<Out>`` rpcs."""

    STRING = "String"
    BYTES = "Bytes"
    ARR_INT = "ArrInt"
    ARR_FLOAT = "ArrFloat"
    ARR_STRING = "ArrString"

    @property
    def wire_name(self) -> str:
        """The name used in rpc and message names, e.g. ``ArrFloat``."""
        return self.value

    @property
    def is_array(self) -> bool:
        """Whether values of this kind are sequences (and scores are sequences too)."""
        return self in (Kind.ARR_INT, Kind.ARR_FLOAT, Kind.ARR_STRING)

    @property
    def is_streamed(self) -> bool:
        """Whether the wire carries this kind as a stream of chunks (only ``Bytes``)."""
        return self is Kind.BYTES


def rpc_name(input_kind: Kind, output_kind: Kind) -> str:
    """The Drucker worker rpc for a pair of kinds, e.g. ``Predict_ArrFloat_String``."""
    return f"Predict_{input_kind.wire_name}_{output_kind.wire_name}"
