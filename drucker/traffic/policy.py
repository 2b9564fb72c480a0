"""The traffic policy of one model: a value, its checks and its JSON form in the store.

A policy is replaced whole (one reference change), so a request sees the old one or the new
one. Every check raises before anything changes: a refused policy leaves the old one serving.
"""

from __future__ import annotations

import math
import time
from typing import Any

import attrs

from drucker.errors import InvalidInputError

WEIGHT_TOTAL = 100.0
DEFAULT_WINDOW = 100


@attrs.frozen
class Guard:
    """Thresholds on a canary or shadow version over each ``window`` of its requests."""

    version: str
    max_error_rate: float | None = None
    min_agreement: float | None = None
    window: int = DEFAULT_WINDOW
    tripped: bool = False
    reason: str = ""
    tripped_at: float = 0.0


@attrs.frozen
class TrafficPolicy:
    """Weights over versions (percent, summing to 100), a shadow and its fraction, guards."""

    split: tuple[tuple[str, float], ...] = ()
    shadow: str = ""
    fraction: float = 0.0
    guards: tuple[Guard, ...] = ()
    changed_at: float = 0.0
    changed_by: str = ""

    @property
    def empty(self) -> bool:
        """Whether the policy changes nothing (the serving version answers everything)."""
        return not self.split and not self.shadow

    def versions(self) -> list[str]:
        """Every version the policy sends requests to (split and shadow)."""
        names = [version for version, _ in self.split]
        return [*names, self.shadow] if self.shadow and self.shadow not in names else names

    def guard(self, version: str) -> Guard | None:
        return next((g for g in self.guards if g.version == version), None)

    def changed(self, by: str, **changes: Any) -> TrafficPolicy:
        """This policy with ``changes``, stamped now by ``by``."""
        return attrs.evolve(self, changed_at=time.time(), changed_by=by, **changes)

    def describe(self) -> str:
        """A short text for the history and the log: ``split a=90 b=10; shadow c 0.25``."""
        parts = []
        if self.split:
            parts.append("split " + " ".join(f"{v}={w:g}" for v, w in self.split))
        if self.shadow:
            parts.append(f"shadow {self.shadow} {self.fraction:g}")
        return "; ".join(parts) or "no split, no shadow"


def checked_split(weights: list[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """The split of ``weights``, checked (versions are checked against the store elsewhere).

    :raises InvalidInputError: for a repeated or empty version, a negative or non-finite
        weight, or weights that do not sum to 100.
    """
    seen: set[str] = set()
    for version, weight in weights:
        if not version:
            raise InvalidInputError("a split weight names no version")
        if version in seen:
            raise InvalidInputError(f"version {version!r} appears twice in the split")
        seen.add(version)
        if not math.isfinite(weight):
            raise InvalidInputError(f"the weight of {version!r} is not a number: {weight!r}")
        if weight < 0:
            raise InvalidInputError(f"the weight of {version!r} is negative: {weight:g}")
    total = sum(weight for _, weight in weights)
    if weights and abs(total - WEIGHT_TOTAL) > 1e-6:
        raise InvalidInputError(f"the split's weights sum to {total:g}, not 100")
    return tuple((version, float(weight)) for version, weight in weights)


def checked_fraction(fraction: float) -> float:
    """:raises InvalidInputError: for a shadow fraction outside (0, 1]."""
    if not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise InvalidInputError(f"the shadow fraction must be in (0, 1], got {fraction!r}")
    return fraction


def checked_guard(guard: Guard) -> Guard:
    """:raises InvalidInputError: for a guard without a threshold, a threshold outside
    [0, 1] or a window that is not positive."""
    thresholds = {"max_error_rate": guard.max_error_rate, "min_agreement": guard.min_agreement}
    if all(value is None for value in thresholds.values()):
        raise InvalidInputError(
            f"the guard of {guard.version!r} sets neither max_error_rate nor min_agreement"
        )
    for name, value in thresholds.items():
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise InvalidInputError(f"guard {name} must be in [0, 1], got {value!r}")
    if guard.window <= 0:
        raise InvalidInputError(f"the guard window must be a positive count, got {guard.window}")
    return guard


def to_json(policy: TrafficPolicy) -> dict[str, Any]:
    """The store's record of ``policy``."""
    return {
        "split": [[version, weight] for version, weight in policy.split],
        "shadow": policy.shadow,
        "fraction": policy.fraction,
        "guards": [attrs.asdict(guard) for guard in policy.guards],
        "changed_at": policy.changed_at,
        "changed_by": policy.changed_by,
    }


def from_json(data: dict[str, Any] | None) -> TrafficPolicy:
    """The policy of a store record (an empty policy for none)."""
    if not data:
        return TrafficPolicy()
    return TrafficPolicy(
        split=tuple((str(v), float(w)) for v, w in data.get("split", ())),
        shadow=str(data.get("shadow", "")),
        fraction=float(data.get("fraction", 0.0)),
        guards=tuple(Guard(**guard) for guard in data.get("guards", ())),
        changed_at=float(data.get("changed_at", 0.0)),
        changed_by=str(data.get("changed_by", "")),
    )
