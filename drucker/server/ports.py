"""Checking a listening address before gRPC binds it: a one-line error, no C-core log."""

from __future__ import annotations

import contextlib
import errno
import socket


def port_in_use(host: str, port: int) -> bool:
    """Whether another socket listens on ``host:port`` (any address it resolves to)."""
    if port == 0:
        return False
    try:
        addresses = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        return False  # gRPC reports an unresolvable host itself
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # As gRPC does: a port in TIME_WAIT is not in use.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):  # dual stack, as gRPC binds [::]
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False
