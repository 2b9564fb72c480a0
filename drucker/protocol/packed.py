"""Big ``ArrFloatInput`` and ``ArrIntInput`` requests decoded into numpy arrays, never
through protobuf's container of Python numbers.

A repeated ``float`` field reaches Python as a protobuf container whose conversion to numpy
goes element by element, holding the GIL (and so the event loop and every other rpc) for
about a second for the 15 million floats of a 60 MB request. Proto3 packs the field: its
floats lie in the message's bytes as little-endian float32, so for a big request
:func:`arr_float_request` answers a :class:`PackedArrFloat` whose ``input`` is a read-only
``float32`` array over those bytes (a microsecond per thousand floats, no copy); plugins
convert it with ``numpy.asarray`` at no cost, and ``len``, indexing and iteration work as on
the container. Small requests, and any message not laid out that way (the field unpacked or
split, a malformed message), are parsed by protobuf as before.

A repeated ``int32`` field is packed as varints (one to ten bytes each), which no numpy view
can read: for a big request :func:`arr_int_request` answers a :class:`PendingArrInt` that
keeps the message's bytes, and the rpc decodes them with :meth:`PendingArrInt.decode` in a
thread (numpy operations over slices of the bytes, so the GIL changes hands between them)
into a :class:`PackedArrInt` whose ``input`` is a read-only ``int32`` array. The values are
protobuf's: each varint's low 32 bits, as its parser keeps them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from drucker._wire import drucker_pb2
from drucker.errors import InvalidInputError

# Requests at least this big (bytes) get the numpy view; smaller ones keep protobuf's container.
PACKED_MIN_BYTES = 16 * 1024
_INPUT_FIELD, _OPTION_FIELD = 1, 2
_LENGTH_DELIMITED = 2
Span = tuple[int, int, int]  # wire type, start and end of the value in the message
# Bytes of packed varints decoded per numpy pass: each pass's operations take about a
# millisecond, so a thread decoding a big request holds the GIL no longer than that at once.
VARINT_SLICE_BYTES = 256 * 1024
VARINT_MAX_BYTES = 10


class PackedArrFloat:
    """A decoded ``ArrFloatInput``: ``input`` a read-only float32 array, ``option`` the
    message's ``Option``."""

    __slots__ = ("input", "option")

    def __init__(self, input: np.ndarray, option: Any) -> None:
        self.input = input
        self.option = option


class PackedArrInt:
    """A decoded ``ArrIntInput``: ``input`` a read-only int32 array, ``option`` the message's
    ``Option``."""

    __slots__ = ("input", "option")

    def __init__(self, input: np.ndarray, option: Any) -> None:
        self.input = input
        self.option = option


class PendingArrInt:
    """A big ``ArrIntInput`` whose packed varints are not decoded yet (:meth:`decode`)."""

    __slots__ = ("_data", "_end", "_start", "option")

    def __init__(self, data: bytes, start: int, end: int, option: Any) -> None:
        self._data = data
        self._start = start
        self._end = end
        self.option = option

    def decode(self) -> PackedArrInt:
        """The request with its values (meant for a thread: a second per 60 MB).

        :raises InvalidInputError: when the varints do not decode (protobuf's reason).
        """
        values = _varints(self._data, self._start, self._end)
        if values is None:  # malformed: protobuf says why
            try:
                drucker_pb2.ArrIntInput.FromString(self._data)
            except DecodeError as error:
                raise InvalidInputError(f"the ArrInt input does not decode: {error}") from None
            raise InvalidInputError("the ArrInt input's packed values do not decode")
        values.flags.writeable = False
        return PackedArrInt(values, self.option)


def arr_int_request(data: bytes) -> Any:
    """An ``ArrIntInput`` from its bytes: a :class:`PendingArrInt` for a big packed one.

    :raises DecodeError: (protobuf's) for a message that does not decode (the packed values
        are checked when decoded).
    """
    if len(data) < PACKED_MIN_BYTES:
        return drucker_pb2.ArrIntInput.FromString(data)
    laid_out = _packed_layout(data)
    if laid_out is None:
        return drucker_pb2.ArrIntInput.FromString(data)
    (start, end), option = laid_out
    return PendingArrInt(data, start, end, option)


def _varints(data: bytes, start: int, end: int) -> np.ndarray | None:
    """The packed varints in ``data[start:end]`` as int32 (their low 32 bits); ``None`` when
    they are malformed (one longer than ten bytes, or cut off at the end)."""
    raw = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    size = len(raw)
    if size and raw[-1] & 0x80:
        return None
    count = sum(
        int(np.count_nonzero(raw[at : at + VARINT_SLICE_BYTES] < 0x80))
        for at in range(0, size, VARINT_SLICE_BYTES)
    )
    out = np.empty(count, dtype=np.int32)
    filled = at = 0
    while at < size:
        part = raw[at : at + VARINT_SLICE_BYTES]
        ends = np.flatnonzero(part < 0x80)
        if not len(ends):
            return None  # no varint ends in a whole slice
        part = part[: int(ends[-1]) + 1]  # the slice's last whole varint
        found = len(ends)
        if found == len(part):  # every value below 128: one byte each
            out[filled : filled + found] = part
        else:
            starts = np.empty_like(ends)
            starts[0] = 0
            starts[1:] = ends[:-1] + 1
            lengths = ends - starts + 1
            if int(lengths.max()) > VARINT_MAX_BYTES:
                return None
            place = np.arange(len(part), dtype=np.int64) - np.repeat(starts, lengths)
            bits = (part & 0x7F).astype(np.uint64) << (7 * place).astype(np.uint64)
            values = np.bitwise_or.reduceat(bits, starts)
            out[filled : filled + found] = values.astype(np.uint32).view(np.int32)
        filled += found
        at += len(part)
    return out


def _packed_layout(data: bytes) -> tuple[tuple[int, int], Any] | None:
    """Where a message's one packed ``input`` field lies, and its merged ``Option``; ``None``
    when it is laid out otherwise (protobuf then parses it).

    :raises DecodeError: (protobuf's) when an option does not decode.
    """
    spans = _spans(data)
    inputs = spans.get(_INPUT_FIELD, []) if spans is not None else []
    options = spans.get(_OPTION_FIELD, []) if spans is not None else []
    if (
        len(inputs) != 1
        or inputs[0][0] != _LENGTH_DELIMITED
        or any(wire != _LENGTH_DELIMITED for wire, _, _ in options)
    ):
        return None
    option = drucker_pb2.Option()
    for _, start, end in options:  # a message field given twice is merged, as protobuf does
        option.MergeFromString(data[start:end])
    _, start, end = inputs[0]
    return (start, end), option


def arr_float_request(data: bytes) -> Any:
    """An ``ArrFloatInput`` from its bytes: a :class:`PackedArrFloat` for a big packed one.

    :raises DecodeError: (protobuf's) for a message that does not decode.
    """
    if len(data) < PACKED_MIN_BYTES:
        return drucker_pb2.ArrFloatInput.FromString(data)
    laid_out = _packed_layout(data)
    if laid_out is None or (laid_out[0][1] - laid_out[0][0]) % 4:
        return drucker_pb2.ArrFloatInput.FromString(data)
    (start, end), option = laid_out
    array = np.frombuffer(data, dtype="<f4", count=(end - start) // 4, offset=start)
    array.flags.writeable = False
    return PackedArrFloat(array, option)


def _spans(data: bytes) -> dict[int, list[Span]] | None:
    """Where each field's values lie in a message; ``None`` when it is malformed."""
    spans: dict[int, list[Span]] = {}
    position, size = 0, len(data)
    try:
        while position < size:
            key, position = _varint(data, position)
            field, wire = key >> 3, key & 7
            start = position
            if wire == 0:
                _, position = _varint(data, position)
            elif wire == 1:
                position += 8
            elif wire == _LENGTH_DELIMITED:
                length, start = _varint(data, position)
                position = start + length
            elif wire == 5:
                position += 4
            else:
                return None
            if position > size or field == 0:
                return None
            spans.setdefault(field, []).append((wire, start, position))
    except IndexError:
        return None
    return spans


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it (IndexError past the end)."""
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")
