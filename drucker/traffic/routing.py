"""Which version answers a request: weighted rendezvous hashing for route keys, weighted
chance without one.

Weighted rendezvous (highest random weight) hashing gives each (key, version) pair the score
``-weight / ln(u)`` with ``u`` the pair's hash in (0, 1); the highest score wins. A key's
version then depends only on the weights, and a key moves only when its old version's score
fell or another's rose: with two versions, raising the canary from 10 to 20 % moves exactly the
keys of the added share, all from the other version to the canary; with more, no key ever
moves to a version whose weight fell or away from one whose weight rose.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from itertools import accumulate

_SCALE = float(1 << 64)


def _unit(key: bytes, version: str) -> float:
    """A hash of the pair, uniform in (0, 1)."""
    digest = hashlib.blake2b(key + b"\x00" + version.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


class Routes:
    """The versions of a split and their weights, ready to pick from."""

    def __init__(self, split: tuple[tuple[str, float], ...]) -> None:
        self.weighted = [(version, weight) for version, weight in split if weight > 0]
        self.versions = [version for version, _ in self.weighted]
        self._cumulative = list(accumulate(weight for _, weight in self.weighted))
        self._total = self._cumulative[-1] if self._cumulative else 0.0
        self._random = random.random

    def for_key(self, key: bytes) -> str:
        """The version a route key always reaches under these weights."""
        return max(self.weighted, key=lambda pair: -pair[1] / math.log(_unit(key, pair[0])))[0]

    def by_chance(self) -> str:
        """A version drawn by weight."""
        index = bisect_right(self._cumulative, self._random() * self._total)
        return self.versions[min(index, len(self.versions) - 1)]
