"""Tools for hostile-input tests: raw messages near the size limit, and a process's memory."""

from __future__ import annotations

import struct
from pathlib import Path

import grpc

from drucker._wire import drucker_pb2

NEAR_LIMIT_BYTES = 60 * 1024 * 1024  # the default grpc.max_message_bytes is 64 MiB


def varint(value: int) -> bytes:
    """``value`` as a protobuf varint."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def arr_float_message(payload_bytes: int, option: str) -> bytes:
    """A serialized ``ArrFloatInput`` of about ``payload_bytes`` of packed floats.

    Built directly as wire bytes: far cheaper for the test than a protobuf message of
    millions of Python floats.
    """
    count = payload_bytes // 4
    packed = struct.pack("<f", 0.5) * count
    option_bytes = drucker_pb2.Option(val=option).SerializeToString()
    return (
        b"\x0a" + varint(len(packed)) + packed + b"\x12" + varint(len(option_bytes)) + option_bytes
    )


def raw_unary(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable:
    """A unary call sending and receiving bytes as they are (no (de)serialisation here)."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def _status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"{field} not in /proc/{pid}/status")


def rss_bytes(pid: int) -> int:
    """The resident set size of a process now."""
    return _status_field(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """The highest resident set size the process reached so far."""
    return _status_field(pid, "VmHWM")
