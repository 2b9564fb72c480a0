"""How both clients build their channel: the target, the service config and the credentials."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_ATTEMPTS_LIMIT = 5  # gRPC caps a retry policy's maxAttempts at 5

# Retried on UNAVAILABLE and RESOURCE_EXHAUSTED: predictions and reads. Uploads, switches and
# evaluations are not idempotent and are never retried (a method not named here has no retry
# policy). A server that refuses for overload sends ``grpc-retry-pushback-ms``: gRPC waits that
# long before the next attempt (instead of the backoff), and never retries after a negative
# one (drucker's other RESOURCE_EXHAUSTED refusals, e.g. too many rows); attempts stay within
# the call's deadline and ``maxAttempts``.
RETRIED_METHODS: list[dict[str, str]] = [
    {"service": "drucker.DruckerWorker"},
    {"service": "drucker.Health"},
    {"service": "grpc.health.v1.Health"},
    {"service": "inference.GRPCInferenceService"},
    {"service": "drucker.DruckerDashboard", "method": "ServiceInfo"},
    {"service": "drucker.DruckerDashboard", "method": "ListModels"},
    {"service": "drucker.DruckerDashboard", "method": "EvaluationResult"},
    {"service": "drucker.DruckerDashboard", "method": "ListEvaluationResults"},
]


# The metadata that names the model a call is for (a server of several models).
MODEL_METADATA_KEY = "x-rekcurd-application-name"


def service_config(max_attempts: int) -> str:
    """Round robin over the resolved addresses; retries with backoff for idempotent rpcs."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if max_attempts > 1:
        config["methodConfig"] = [
            {
                "name": RETRIED_METHODS,
                "retryPolicy": {
                    "maxAttempts": min(max_attempts, MAX_ATTEMPTS_LIMIT),
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
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
    """A gRPC target for ``host:port``, a DNS name (all its addresses) or a list of servers.

    Names in a list are resolved once, here; a single name is resolved (and re-resolved) by
    gRPC's DNS resolver, so every address it has takes part in the round robin.
    """
    if isinstance(target, str):
        if "://" in target or target.startswith(("ipv4:", "ipv6:", "unix:", "dns:")):
            return target
        return f"dns:///{target}"
    if not target:
        raise ValueError("no target given")
    for item in target:
        if ":" not in item:
            raise ValueError(f"target {item!r} is not HOST:PORT")
    addresses = [_address(*item.rsplit(":", 1)) for item in target]
    schemes = {scheme for scheme, _ in addresses}
    if len(schemes) > 1:
        raise ValueError("a list of targets must be all IPv4 or all IPv6")
    return f"{schemes.pop()}:" + ",".join(address for _, address in addresses)


def _read_pem(value: str | Path | bytes) -> bytes:
    """PEM bytes from bytes or a file path."""
    return value if isinstance(value, bytes) else Path(value).read_bytes()


@attrs.frozen
class ChannelSpec:
    """Everything a sync or asyncio channel is made from, and the metadata of every call."""

    address: str
    options: list[tuple[str, Any]]
    credentials: grpc.ChannelCredentials | None
    metadata: tuple[tuple[str, str], ...]


def retried_calls(stubs: Mapping[str, object]) -> frozenset[object]:
    """The multicallables of ``stubs`` (by service name) whose methods
    :data:`RETRIED_METHODS` names: those the client retries itself with ``attempt_timeout``."""
    calls: set[object] = set()
    for entry in RETRIED_METHODS:
        stub = stubs.get(entry["service"])
        if stub is None:
            continue
        method = entry.get("method")
        calls.update([getattr(stub, method)] if method else vars(stub).values())
    return frozenset(calls)


def channel_spec(
    target: str | Sequence[str],
    *,
    max_attempts: int,
    own_attempts: bool = False,
    token: str | None,
    tls: bool | str | Path | bytes,
    options: Sequence[tuple[str, Any]],
    model: str | None = None,
) -> ChannelSpec:
    """Validate the client's arguments and turn them into a :class:`ChannelSpec`
    (``own_attempts``: the client makes its attempts itself, gRPC retries nothing)."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    retries = max_attempts > 1 and not own_attempts
    channel_options: list[tuple[str, Any]] = [
        ("grpc.service_config", service_config(max_attempts if retries else 1)),
        ("grpc.enable_retries", 1 if retries else 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # Notice a server that (re)starts within the retry window, not a second later.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 5000),
        *options,
    ]
    credentials = None
    if tls:
        roots = None if tls is True else _read_pem(tls)
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
    if model:  # the model of a many-model server, named as 0.4.5 clients name applications
        metadata += ((MODEL_METADATA_KEY, model),)
    return ChannelSpec(channel_target(target), channel_options, credentials, metadata)
