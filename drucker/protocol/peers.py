"""A caller's address as people write it, from gRPC's peer string."""

from __future__ import annotations

from urllib.parse import unquote

_SCHEMES = ("ipv4:", "ipv6:")


def readable_peer(peer: str) -> str:
    """``ipv6:%5B::1%5D:45810`` → ``[::1]:45810``; ``ipv4:10.0.0.7:5000`` → ``10.0.0.7:5000``.

    Other peers (``unix:``, an empty string) are returned unquoted but otherwise as they are.
    """
    for scheme in _SCHEMES:
        if peer.startswith(scheme):
            return unquote(peer[len(scheme) :])
    return unquote(peer)
