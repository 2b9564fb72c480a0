"""What the sync and async clients share: kinds from Python values, messages, channel setup."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from drucker.client.types import EvaluationRecord, Metrics, ServiceInfo, StoredModel
from drucker.kinds import Kind
from drucker.protocol._generated import drucker_pb2
from drucker.types import PredictResult

BYTES_CHUNK = 1024 * 1024
UPLOAD_CHUNK = 256 * 1024
SHA256_METADATA = "x-drucker-sha256"

# Retried on UNAVAILABLE: predictions and reads. Uploads, switches and evaluations are not
# idempotent and are never retried.
_RETRIED = [
    {"service": "drucker.DruckerWorker"},
    {"service": "drucker.Health"},
    {"service": "grpc.health.v1.Health"},
    {"service": "inference.GRPCInferenceService"},
    {"service": "drucker.DruckerDashboard", "method": "ServiceInfo"},
    {"service": "drucker.DruckerDashboard", "method": "ListModels"},
    {"service": "drucker.DruckerDashboard", "method": "EvaluationResult"},
]


def service_config(max_attempts: int) -> str:
    """Round robin over the resolved addresses, retries with backoff for idempotent rpcs."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if max_attempts > 1:
        config["methodConfig"] = [
            {
                "name": _RETRIED,
                "retryPolicy": {
                    "maxAttempts": min(max_attempts, 5),
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    return json.dumps(config)


def _address(host: str, port: str) -> tuple[str, str]:
    """(scheme, address) for a host that may be a name, an IPv4 or an IPv6 address."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        ip = ipaddress.ip_address(infos[0][4][0])
    if ip.version == 6:
        return "ipv6", f"[{ip}]:{port}"
    return "ipv4", f"{ip}:{port}"


def channel_target(target: str | Sequence[str]) -> str:
    """A gRPC target for ``host:port``, a DNS name (all its addresses) or a list of servers."""
    if isinstance(target, str):
        if "://" in target or target.startswith(("ipv4:", "ipv6:", "unix:")):
            return target
        return f"dns:///{target}"
    if not target:
        raise ValueError("no target given")
    addresses = [_address(*item.rsplit(":", 1)) for item in target]
    schemes = {scheme for scheme, _ in addresses}
    if len(schemes) > 1:
        raise ValueError("a list of targets must be all IPv4 or all IPv6")
    return f"{schemes.pop()}:" + ",".join(address for _, address in addresses)


def channel_options(max_attempts: int, extra: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", service_config(max_attempts)),
        ("grpc.enable_retries", 1 if max_attempts > 1 else 0),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        *extra,
    ]


def read_pem(value: str | bytes | None) -> bytes | None:
    """PEM bytes from bytes, a file path, or None."""
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


# -- predictions ---------------------------------------------------------------------------


def input_kind_of(value: Any) -> Kind:
    """The Drucker kind for a Python input: str, bytes, or a sequence/array of int/float/str."""
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, bytes | bytearray | memoryview):
        return Kind.BYTES
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return Kind.ARR_INT
        if value.dtype.kind == "f":
            return Kind.ARR_FLOAT
        if value.dtype.kind in "USO":
            return Kind.ARR_STRING
        raise TypeError(f"cannot send a numpy array of dtype {value.dtype}")
    if isinstance(value, Sequence):
        items = list(value)
        if not items:
            raise TypeError("cannot tell the kind of an empty sequence: pass input_kind=")
        if all(isinstance(v, str) for v in items):
            return Kind.ARR_STRING
        if all(isinstance(v, bool | int | np.integer) for v in items):
            return Kind.ARR_INT
        if all(isinstance(v, bool | int | float | np.integer | np.floating) for v in items):
            return Kind.ARR_FLOAT
    raise TypeError(f"cannot send a {type(value).__name__}: use str, bytes or a sequence")


def as_kind(kind: Kind | str) -> Kind:
    """A Kind from a Kind or its name (``"ArrFloat"``, ``"ARR_FLOAT"``)."""
    if isinstance(kind, Kind):
        return kind
    for member in Kind:
        if kind in (member.value, member.name):
            return member
    raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(k.value for k in Kind)}")


def _wire_value(value: Any, kind: Kind) -> Any:
    if kind is Kind.BYTES:
        return bytes(value)
    if isinstance(value, np.ndarray):
        return value.reshape(-1).tolist()
    return list(value) if kind.is_array else value


def option_text(option: dict[str, Any] | None) -> str:
    return json.dumps(option) if option else "{}"


def unary_request(value: Any, kind: Kind, option: str) -> Any:
    message = getattr(drucker_pb2, f"{kind.wire_name}Input")
    return message(input=_wire_value(value, kind), option=drucker_pb2.Option(val=option))


def bytes_requests(value: Any, option: str) -> Iterator[Any]:
    """A Bytes input as a stream of chunks, the option on the first."""
    data = bytes(value)
    for start in range(0, max(len(data), 1), BYTES_CHUNK):
        yield drucker_pb2.BytesInput(
            input=data[start : start + BYTES_CHUNK],
            option=drucker_pb2.Option(val=option if start == 0 else ""),
        )


def _option(text: str) -> dict[str, Any]:
    parsed = json.loads(text) if text else {}
    return parsed if isinstance(parsed, dict) else {}


def result_of(response: Any, kind: Kind) -> PredictResult:
    if kind.is_array:
        return PredictResult(
            label=list(response.output),
            score=list(response.score),
            option=_option(response.option.val),
        )
    return PredictResult(
        label=response.output, score=response.score, option=_option(response.option.val)
    )


def joined_bytes_result(messages: list[Any]) -> PredictResult:
    if not messages:
        return PredictResult(label=b"", score=0.0)
    first = messages[0]
    label = b"".join(m.output for m in messages)
    return PredictResult(label=label, score=first.score, option=_option(first.option.val))


# -- management ------------------------------------------------------------------------------


def file_chunks(path: Path, name: str, field: str, progress: Any) -> Iterator[Any]:
    """Upload messages for a file, reporting (sent, total) bytes to ``progress``."""
    message = (
        drucker_pb2.UploadModelRequest
        if field == "path"
        else drucker_pb2.UploadEvaluationDataRequest
    )
    total = path.stat().st_size
    sent = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(UPLOAD_CHUNK)
            if not chunk and sent:
                break
            sent += len(chunk)
            fields: dict[str, Any] = {field: name, "data": chunk}
            yield message(**fields)
            if progress is not None:
                progress(sent, total)
            if not chunk:
                break


def service_info_of(reply: Any) -> ServiceInfo:
    return ServiceInfo(
        reply.application_name,
        reply.service_name,
        reply.service_level,
        reply.model_name,
        reply.model_sha256,
    )


def models_of(reply: Any) -> list[StoredModel]:
    return [StoredModel(m.name, m.size, m.sha256, m.uploaded_at, m.active) for m in reply.models]


def metrics_of(message: Any) -> Metrics:
    return Metrics(
        num=message.num,
        accuracy=message.accuracy,
        labels=list(message.labels),
        precision=list(message.precision),
        recall=list(message.recall),
        f1=list(message.fvalue),
        option=dict(message.option),
    )


def _io_value(io: Any) -> Any:
    which = io.WhichOneof("io_oneof")
    if which == "tensor":
        values = list(io.tensor.val)
        return values if list(io.tensor.shape) else (values[0] if values else None)
    if which == "str":
        values = list(io.str.val)
        return values[0] if len(values) == 1 else values
    return None


def records_of(reply: Any) -> Iterator[EvaluationRecord]:
    for detail in reply.detail:
        yield EvaluationRecord(
            input=_io_value(detail.input),
            label=_io_value(detail.label),
            output=_io_value(detail.output),
            score=list(detail.score),
            is_correct=detail.is_correct,
        )
