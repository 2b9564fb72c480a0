"""The history's "who": a caller's address as people write it."""

from __future__ import annotations

import pytest

from drucker.protocol.peers import readable_peer


@pytest.mark.parametrize(
    ("peer", "readable"),
    [
        ("ipv6:%5B::1%5D:45810", "[::1]:45810"),
        ("ipv4:127.0.0.1:5000", "127.0.0.1:5000"),
        ("ipv6:%5Bfe80::1%25eth0%5D:80", "[fe80::1%eth0]:80"),
        ("unix:/tmp/drucker.sock", "unix:/tmp/drucker.sock"),
        ("", ""),
    ],
)
def test_peer_strings_read_as_addresses(peer: str, readable: str) -> None:
    assert readable_peer(peer) == readable
