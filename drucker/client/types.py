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
    traffic: str = ""  # a traffic policy change ("split a=90 b=10"), not a switch

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


@attrs.frozen
class TrafficGuard:
    """A guard on a canary or shadow version: over each ``window`` of its requests, an error
    rate above ``max_error_rate`` or an agreement below ``min_agreement`` takes it out."""

    version: str
    max_error_rate: float | None
    min_agreement: float | None
    window: int
    tripped: bool = False
    reason: str = ""  # why it tripped ("" while not)
    tripped_at: float = 0.0  # seconds since the epoch, 0 while not tripped


@attrs.frozen
class VersionFigures:
    """One version's live figures on the replica that answered (since it started)."""

    version: str
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    loaded: bool


@attrs.frozen
class ShadowFigures:
    """The online comparison of the shadow's answers with the primary's."""

    agree: int = 0
    disagree: int = 0
    shadow_error: int = 0
    dropped: int = 0
    mean_score_difference: float = 0.0
    shadow_latency_p50_ms: float = 0.0
    shadow_latency_p99_ms: float = 0.0

    @property
    def total(self) -> int:
        """Every shadowed request: agree + disagree + shadow_error + dropped."""
        return self.agree + self.disagree + self.shadow_error + self.dropped

    @property
    def agreement(self) -> float | None:
        """The share of compared answers that agree (``None`` before any)."""
        compared = self.agree + self.disagree
        return self.agree / compared if compared else None


@attrs.frozen
class Traffic:
    """A model's traffic policy and its live figures (``AsyncClient.traffic`` and every
    policy call answer it).

    ``split`` maps versions to percent (empty: ``serving`` answers everything);
    ``shadow_version`` is ``""`` without a shadow.
    """

    model: str
    serving: str
    split: dict[str, float]
    shadow_version: str
    shadow_fraction: float
    guards: list[TrafficGuard]
    versions: list[VersionFigures]
    shadow: ShadowFigures
    changed_at: float  # seconds since the epoch of the last change, 0 for none
    changed_by: str
    message: str = ""  # what the call did


@attrs.frozen
class ShadowSampleRow:
    """One kept shadowed request: its input and both answers."""

    at: float
    input: Any
    primary_version: str
    primary_label: Any
    primary_score: list[float]
    shadow_version: str
    shadow_label: Any  # None when the shadow failed
    shadow_score: list[float]
    outcome: str  # agree, disagree or shadow_error
    score_difference: float


@attrs.frozen
class ShadowSample:
    """The kept sample of shadowed requests, oldest first, and the evaluation data set it is
    stored as (``""`` before one)."""

    rows: list[ShadowSampleRow]
    data_name: str
