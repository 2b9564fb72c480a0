"""Coercion of plugin results (labels and scores) to an rpc's output kind.

Plugins return what their libraries give them: numpy scalars and arrays, tuples, a scalar where
the rpc wants a one-element array. These functions turn that into the plain Python values the
wire needs, and refuse with a clear :class:`~drucker.errors.OutputKindError` what does not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from drucker.errors import OutputKindError, PluginFailure
from drucker.kinds import Kind

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _as_list(value: Any, what: str, kind: Kind) -> list[Any]:
    """A sequence (list, tuple, 1-d array, or a (1, n) array) or a scalar as a list."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return [value.item()]
        if value.ndim == 2 and value.shape[0] == 1:
            value = value[0]
        if value.ndim != 1:
            raise OutputKindError(
                f"{what} has shape {value.shape}; {kind.wire_name} output needs a flat array"
            )
        return list(value.tolist())
    if isinstance(value, list | tuple):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    if isinstance(value, str | bytes | int | float | np.generic):
        return [value.item() if isinstance(value, np.generic) else value]
    raise OutputKindError(f"{what} is a {_describe(value)}; {kind.wire_name} output needs a list")


def _as_scalar(value: Any, what: str, kind: Kind) -> Any:
    """A scalar, or the single element of a one-element sequence."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise OutputKindError(
                f"{what} has {value.size} elements; {kind.wire_name} output needs exactly one"
            )
        return value.reshape(-1)[0].item()
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise OutputKindError(
                f"{what} has {len(value)} elements; {kind.wire_name} output needs exactly one"
            )
        return _item(value[0])
    return _item(value)


def _item(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _to_str(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise OutputKindError(f"{what} is bytes that are not UTF-8 text") from None
    if isinstance(value, bool | int | float):
        return str(value)
    raise OutputKindError(f"{what} is a {_describe(value)}, which is not text")


def _to_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise OutputKindError(f"{what} is a {_describe(value)}; Bytes output needs bytes or str")


def _to_int32(value: Any, what: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise OutputKindError(f"{what} contains {_describe(value)}; ArrInt output needs integers")
    if not INT32_MIN <= value <= INT32_MAX:
        raise OutputKindError(f"{what} contains {value}, outside the 32-bit range of ArrInt")
    return value


def _to_float(value: Any, what: str) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    raise OutputKindError(f"{what} contains {_describe(value)}, which is not a number")


_LABEL_SCALARS: dict[Kind, Callable[[Any, str], Any]] = {
    Kind.STRING: _to_str,
    Kind.BYTES: _to_bytes,
}
_LABEL_ELEMENTS: dict[Kind, Callable[[Any, str], Any]] = {
    Kind.ARR_INT: _to_int32,
    Kind.ARR_FLOAT: _to_float,
    Kind.ARR_STRING: _to_str,
}


def coerce_label(label: Any, kind: Kind) -> Any:
    """The label as ``str``, ``bytes``, ``list[int]``, ``list[float]`` or ``list[str]``."""
    if type(label) is str and kind is Kind.STRING:  # the common case, checked first
        return label
    if label is None:
        raise OutputKindError(f"the plugin returned no label; {kind.wire_name} output needs one")
    if kind.is_array:
        convert = _LABEL_ELEMENTS[kind]
        return [convert(v, "label") for v in _as_list(label, "label", kind)]
    scalar = label if isinstance(label, bytes | str) else _as_scalar(label, "label", kind)
    return _LABEL_SCALARS[kind](scalar, "label")


def coerce_score(score: Any, kind: Kind) -> float | list[float]:
    """The score as a ``float`` (String and Bytes outputs) or a ``list[float]`` (arrays)."""
    if type(score) is float and not kind.is_array:  # the common case, checked first
        return score
    if score is None:
        raise OutputKindError(f"the plugin returned no score; {kind.wire_name} output needs one")
    if kind.is_array:
        return [_to_float(v, "score") for v in _as_list(score, "score", kind)]
    return _to_float(_as_scalar(score, "score", kind), "score")


# -- a tensor's answers, for all rows at once -------------------------------------------------

_NUMBERS = frozenset("iufb")  # numpy dtype kinds: signed, unsigned, float, bool


def _per_row(value: np.ndarray, rows: int, kind: Kind, what: str) -> np.ndarray:
    """``value`` as ``[rows]`` (scalar kinds) or ``[rows, k]`` (array kinds); for the array
    kinds, a ``[rows]`` array of objects holds a sequence per row."""
    if value.ndim == 0 or value.shape[0] != rows:
        count = value.shape[0] if value.ndim else "no"
        raise PluginFailure(f"drucker_predict_tensor returned {count} {what} for {rows} rows")
    if not kind.is_array:
        if value.ndim == 2 and value.shape[1] == 1:
            return value.reshape(rows)
        if value.ndim != 1:
            raise OutputKindError(
                f"{what} have shape {list(value.shape)}; {kind.wire_name} output needs one per row"
            )
        return value
    if value.ndim == 1:
        return value if value.dtype.kind == "O" else value.reshape(rows, 1)
    if value.ndim != 2:
        raise OutputKindError(
            f"{what} have shape {list(value.shape)}; {kind.wire_name} output needs a row per row"
        )
    return value


def coerce_labels(labels: Any, rows: int, kind: Kind) -> np.ndarray:
    """A tensor answer's labels as an array for the output kind: ``str`` or ``bytes``
    objects, ``int64`` (range-checked for ``ArrInt``) or ``float64``; ``[rows]`` for the scalar
    kinds, ``[rows, k]`` for the array kinds. Converted per element (with
    :func:`coerce_label`'s rules and errors) only where the dtype asks for it."""
    array = _per_row(np.asarray(labels), rows, kind, "labels")
    dtype = array.dtype.kind
    if kind in (Kind.STRING, Kind.ARR_STRING) and dtype in _NUMBERS | {"U"}:
        return array.astype(object) if dtype == "U" else _texts(array)
    if kind is Kind.ARR_FLOAT and dtype in _NUMBERS:
        return array.astype(np.float64)
    if kind is Kind.ARR_INT and dtype in _NUMBERS:
        return _int32_checked(array)
    elements = [coerce_label(value, kind) for value in array.tolist()]
    if not kind.is_array:
        scalars = np.empty(rows, dtype=object)
        scalars[:] = elements
        return scalars
    lengths = {len(row) for row in elements}
    if len(lengths) > 1:
        raise OutputKindError(f"rows answered with different numbers of labels {sorted(lengths)}")
    return np.array(elements, dtype=object if kind is Kind.ARR_STRING else None).reshape(rows, -1)


def _texts(array: np.ndarray) -> np.ndarray:
    """Numbers as the text ``str()`` gives each of them (as a single prediction's label)."""
    texts = np.empty(array.shape, dtype=object)
    flat = texts.reshape(-1)
    flat[:] = [str(value) for value in array.reshape(-1).tolist()]
    return texts


def _int32_checked(array: np.ndarray) -> np.ndarray:
    whole = array.dtype.kind != "f" or bool(np.all(np.isfinite(array) & (array == np.floor(array))))
    if not whole:
        raise OutputKindError("labels contain a number that is not an integer; ArrInt output")
    if array.size and (array.min() < INT32_MIN or array.max() > INT32_MAX):
        raise OutputKindError("labels contain a number outside the 32-bit range of ArrInt")
    return array.astype(np.int64)


def coerce_scores(scores: Any, rows: int, kind: Kind) -> np.ndarray:
    """A tensor answer's scores as ``float64``: ``[rows]`` or ``[rows, k]`` (array kinds)."""
    array = _per_row(np.asarray(scores), rows, kind, "scores")
    if array.dtype.kind in _NUMBERS:
        return array.astype(np.float64)
    elements = [coerce_score(value, kind) for value in array.tolist()]
    try:
        return np.array(elements, dtype=np.float64)
    except ValueError:  # ragged rows
        raise OutputKindError("rows answered with different numbers of scores") from None
