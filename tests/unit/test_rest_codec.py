"""The V2 REST JSON codec built directly: values that do not fit their datatype are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from drucker.errors import InvalidInputError
from drucker.protocol.v2.rest_codec import decode_infer


def body(datatype: str, data: Any) -> bytes:
    shape = [len(data)] if isinstance(data, list) else [1]
    tensor = {"name": "x", "datatype": datatype, "shape": shape, "data": data}
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize("datatype", ["UINT64", "INT64", "UINT8", "INT32"])
@pytest.mark.parametrize("data", [True, [True, False], [2**63], [-1], [2**64], [-(2**63) - 1]])
def test_integers_out_of_range_or_of_another_kind_are_invalid_not_a_crash(
    datatype: str, data: Any
) -> None:
    # Found by schemathesis: a JSON boolean checked against UINT64's bound overflowed a C long.
    try:
        decoded = decode_infer(body(datatype, data), None, "m", "")
    except InvalidInputError:
        return
    [tensor] = decoded.request.inputs
    assert tensor.data.dtype.kind in "iu"
