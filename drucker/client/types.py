"""Values the client returns (kept apart from the server's types: the client knows the wire)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class ServiceInfo:
    """What ServiceInfo reports."""

    application_name: str
    service_name: str
    service_level: str
    model_name: str
    model_sha256: str


@attrs.frozen
class StoredModel:
    """One model of the server's model store."""

    name: str
    size: int
    sha256: str
    uploaded_at: float
    active: bool


@attrs.frozen
class RepositoryModel:
    """One model of a server's repository (Open Inference ``RepositoryIndex``)."""

    name: str
    version: str
    state: str  # READY, UNAVAILABLE, LOADING or UNLOADING
    reason: str


@attrs.frozen
class ModelSwitch:
    """One entry of the model store's switch history."""

    at: float  # seconds since the epoch
    to_name: str
    to_sha256: str
    from_name: str  # empty when nothing served before
    from_sha256: str
    by: str
    result: str  # "ok", or "failed: <reason>"
    rollback: bool = False  # a step back through the history (a rollback), not a switch

    @property
    def ok(self) -> bool:
        """Whether the switch succeeded."""
        return self.result == "ok"


@attrs.frozen
class Metrics:
    """Evaluation metrics; per-class lists follow ``labels``."""

    num: int
    accuracy: float
    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    option: dict[str, float]


@attrs.frozen
class EvaluationRecord:
    """One evaluated sample of a stored evaluation result."""

    input: Any
    label: Any
    output: Any
    score: list[float]
    is_correct: bool


@attrs.frozen
class StoredEvaluation:
    """One stored evaluation result: its name (for ``evaluation_result``), its metrics and
    when it was stored (seconds since the epoch; 0 where the store does not say)."""

    name: str
    metrics: Metrics
    stored_at: float
