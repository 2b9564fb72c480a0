"""Coercion of what plugins return to the rpc's output kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from drucker.coercion import coerce_label, coerce_score
from drucker.errors import OutputKindError
from drucker.kinds import Kind


@pytest.mark.parametrize(
    ("label", "kind", "expected"),
    [
        (np.str_("setosa"), Kind.STRING, "setosa"),
        (np.array(["setosa"]), Kind.STRING, "setosa"),
        (("a",), Kind.STRING, "a"),
        (np.int64(3), Kind.STRING, "3"),
        (b"caf\xc3\xa9", Kind.STRING, "café"),
        ("text", Kind.BYTES, b"text"),
        (bytearray(b"\x00\x01"), Kind.BYTES, b"\x00\x01"),
        (np.int64(2), Kind.ARR_INT, [2]),
        (np.array([1.0, 2.0]), Kind.ARR_INT, [1, 2]),
        ((1, 2), Kind.ARR_FLOAT, [1.0, 2.0]),
        (np.float32(0.5), Kind.ARR_FLOAT, [0.5]),
        (np.array([["a", "b"]]), Kind.ARR_STRING, ["a", "b"]),
        ("one", Kind.ARR_STRING, ["one"]),
    ],
)
def test_labels_are_coerced(label: Any, kind: Kind, expected: Any) -> None:
    assert coerce_label(label, kind) == expected


@pytest.mark.parametrize(
    ("label", "kind", "message"),
    [
        ("setosa", Kind.ARR_INT, "ArrInt output needs integers"),
        ([1.5], Kind.ARR_INT, "ArrInt output needs integers"),
        ([2**40], Kind.ARR_INT, "outside the 32-bit range"),
        (["x"], Kind.ARR_FLOAT, "not a number"),
        ([1, 2], Kind.STRING, "needs exactly one"),
        ({"a": 1}, Kind.STRING, "not text"),
        (b"\xff", Kind.STRING, "not UTF-8"),
        (3.5, Kind.BYTES, "needs bytes or str"),
        (np.zeros((2, 2)), Kind.ARR_FLOAT, "needs a flat array"),
        (None, Kind.STRING, "no label"),
    ],
)
def test_labels_that_do_not_fit_are_refused(label: Any, kind: Kind, message: str) -> None:
    with pytest.raises(OutputKindError, match=message):
        coerce_label(label, kind)


def test_scores() -> None:
    assert coerce_score(np.float64(0.25), Kind.STRING) == 0.25
    assert coerce_score([0.75], Kind.BYTES) == 0.75
    assert coerce_score(np.array([[0.1, 0.9]]), Kind.ARR_STRING) == pytest.approx([0.1, 0.9])
    assert coerce_score(1, Kind.ARR_INT) == [1.0]
    with pytest.raises(OutputKindError, match="needs exactly one"):
        coerce_score([0.1, 0.9], Kind.STRING)
    with pytest.raises(OutputKindError, match="not a number"):
        coerce_score("high", Kind.STRING)
