"""Coercion of what plugins return to the rpc's output kind."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drucker._wire import drucker_pb2
from drucker.coercion import (
    INT32_MAX,
    INT32_MIN,
    coerce_label,
    coerce_labels,
    coerce_score,
    coerce_scores,
)
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


# -- properties ---------------------------------------------------------------------------------

int32s = st.integers(INT32_MIN, INT32_MAX)
non_nan_floats = st.floats(allow_nan=False, allow_infinity=True)
unbounded = settings(deadline=None)  # a shared CI machine must not fail a test for its speed


def sequences(elements: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[list[Any], Any]]:
    """(values, a 1-D result as plugins return it: a list, a tuple or a (1, n) numpy array)."""
    return st.lists(elements, max_size=20).flatmap(
        lambda items: st.tuples(
            st.just(items),
            st.sampled_from([items, tuple(items), np.array([items], dtype=object)]),
        )
    )


def wire_round_trip(kind: Kind, label: Any, score: Any) -> tuple[Any, Any]:
    """The label and score after the worker rpc's output message is encoded and parsed."""
    message_type = getattr(drucker_pb2, f"{kind.wire_name}Output")
    parsed = message_type.FromString(message_type(output=label, score=score).SerializeToString())
    if kind.is_array:
        return list(parsed.output), list(parsed.score)
    return parsed.output, parsed.score


@unbounded
@given(st.lists(int32s, max_size=20), st.sampled_from(["list", "tuple", "int32", "int64"]))
def test_int32_labels_survive_coercion_and_the_wire(values: list[int], shape: str) -> None:
    label: Any = {
        "list": values,
        "tuple": tuple(values),
        "int32": np.array(values, dtype=np.int32),
        "int64": np.array(values, dtype=np.int64),
    }[shape]
    coerced = coerce_label(label, Kind.ARR_INT)
    assert coerced == values and all(type(v) is int for v in coerced)
    assert coerce_label(coerced, Kind.ARR_INT) == coerced  # idempotent
    scores = coerce_score([0.5] * len(values), Kind.ARR_INT)
    assert wire_round_trip(Kind.ARR_INT, coerced, scores) == (values, scores)


@unbounded
@given(st.integers().filter(lambda v: not INT32_MIN <= v <= INT32_MAX))
def test_integers_outside_int32_are_refused(value: int) -> None:
    with pytest.raises(OutputKindError, match="outside the 32-bit range"):
        coerce_label([value], Kind.ARR_INT)


@unbounded
@given(int32s)
def test_integral_floats_are_integers(value: int) -> None:
    assert coerce_label(np.array([float(value)]), Kind.ARR_INT) == [value]


@unbounded
@given(hnp.arrays(hnp.floating_dtypes(sizes=(32, 64)), st.integers(0, 20)))
def test_float_labels_and_scores_keep_their_value_up_to_the_wire_precision(
    array: np.ndarray,
) -> None:
    label = coerce_label(array, Kind.ARR_FLOAT)
    score = coerce_score(array, Kind.ARR_FLOAT)
    assert all(type(v) is float for v in label + score)
    np.testing.assert_array_equal(np.array(label, dtype=array.dtype), array)
    wire_label, wire_score = wire_round_trip(Kind.ARR_FLOAT, label, score)
    with np.errstate(over="ignore"):  # beyond float32's range is infinite on the wire too
        expected = array.astype(np.float32)  # the worker protocol's floats are 32-bit
    np.testing.assert_array_equal(np.array(wire_label, dtype=np.float32), expected)
    np.testing.assert_array_equal(np.array(wire_score, dtype=np.float32), expected)


@unbounded
@given(sequences(st.text()))
def test_string_arrays_survive_coercion_and_the_wire(case: tuple[list[str], Any]) -> None:
    values, label = case
    coerced = coerce_label(label, Kind.ARR_STRING)
    assert coerced == values
    assert wire_round_trip(Kind.ARR_STRING, coerced, [1.0] * len(coerced))[0] == values


@unbounded
@given(st.text(), non_nan_floats)
def test_text_goes_through_bytes_and_back(text: str, score: float) -> None:
    as_bytes = coerce_label(text, Kind.BYTES)
    assert as_bytes == text.encode("utf-8")
    assert coerce_label(as_bytes, Kind.STRING) == text
    assert coerce_label(np.str_(text), Kind.STRING) == text
    assert coerce_label([text], Kind.STRING) == text
    label, wire_score = wire_round_trip(Kind.STRING, text, coerce_score(score, Kind.STRING))
    assert label == text
    with np.errstate(over="ignore"):  # beyond float32's range is infinite on the wire too
        assert wire_score == float(np.float32(score))


@unbounded
@given(st.binary())
def test_bytes_labels_are_kept_byte_for_byte(data: bytes) -> None:
    assert coerce_label(data, Kind.BYTES) == data
    assert coerce_label(bytearray(data), Kind.BYTES) == data
    assert coerce_label(memoryview(data), Kind.BYTES) == data


@unbounded
@given(st.one_of(int32s, non_nan_floats, st.text()), st.sampled_from(list(Kind)))
def test_a_scalar_is_a_one_element_array_and_back(value: Any, kind: Kind) -> None:
    try:
        coerced = coerce_label(value, kind)
    except OutputKindError:
        return  # a value the kind cannot hold (text as a number, a fraction as an integer)
    if kind.is_array:
        assert len(coerced) == 1
        assert coerce_label(coerced, kind) == coerced
    else:
        assert coerce_label([value], kind) == coerced


@unbounded
@given(st.floats())
def test_a_scalar_score_is_one_float(score: float) -> None:
    for wrapped in (score, [score], (score,), np.float64(score), np.array([score])):
        coerced = coerce_score(wrapped, Kind.STRING)
        assert type(coerced) is float
        assert coerced == score or (math.isnan(coerced) and math.isnan(score))


TENSOR_DTYPES = ["<i8", "<i4", "<u8", "<f8", "<f4", "?", "<U3", "S3"]


def _without_nan(array: np.ndarray) -> bool:
    return array.dtype.kind != "f" or not np.isnan(array).any()


tensor_answers = hnp.arrays(
    st.sampled_from(TENSOR_DTYPES),
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4),
).filter(_without_nan)


def _outcome(convert: Any) -> Any:
    try:
        return convert()
    except OutputKindError:
        return OutputKindError


ROW_AND_TENSOR_COERCIONS = {
    "labels": (coerce_label, coerce_labels),
    "scores": (coerce_score, coerce_scores),
}


@pytest.mark.parametrize("part", list(ROW_AND_TENSOR_COERCIONS))
@settings(deadline=None, max_examples=300)
@given(tensor_answers, st.sampled_from(list(Kind)))
def test_a_tensors_labels_and_scores_are_coerced_as_each_rows_would_be(
    part: str, array: np.ndarray, kind: Kind
) -> None:
    one_row, all_rows = ROW_AND_TENSOR_COERCIONS[part]
    rows = array.shape[0]
    by_row = _outcome(lambda: [one_row(row, kind) for row in array.tolist()])
    labels = part == "labels" and by_row is not OutputKindError
    if labels and kind.is_array and len({len(r) for r in by_row}) > 1:
        by_row = OutputKindError  # a V2 tensor needs label rows of one length
    at_once = _outcome(lambda: all_rows(array, rows, kind).tolist())
    assert at_once == by_row
