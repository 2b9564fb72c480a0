"""Traffic policy on the wire: the requests of the traffic rpcs and their replies as values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from drucker._wire import drucker_pb2
from drucker.client.types import (
    ShadowFigures,
    ShadowSample,
    ShadowSampleRow,
    Traffic,
    TrafficGuard,
    VersionFigures,
)

DEFAULT_GUARD_WINDOW = 100


def split_request(weights: Mapping[str, float]) -> Any:
    """A ``SetTrafficSplitRequest``; the server checks the weights (it refuses, not this)."""
    return drucker_pb2.SetTrafficSplitRequest(
        weights=[
            drucker_pb2.TrafficWeight(version=version, weight=float(weight))
            for version, weight in weights.items()
        ]
    )


def guard_request(
    version: str,
    max_error_rate: float | None,
    min_agreement: float | None,
    window: int,
    remove: bool = False,
) -> Any:
    """A ``SetTrafficGuardRequest`` (an unset threshold stays unset on the wire)."""
    request = drucker_pb2.SetTrafficGuardRequest(version=version, window=window, remove=remove)
    if max_error_rate is not None:
        request.max_error_rate = max_error_rate
    if min_agreement is not None:
        request.min_agreement = min_agreement
    return request


def _optional(message: Any, field: str) -> float | None:
    return float(getattr(message, field)) if message.HasField(field) else None


def traffic_of(reply: Any) -> Traffic:
    """The :class:`Traffic` of a ``TrafficResponse``."""
    shadow = reply.shadow
    return Traffic(
        model=reply.model,
        serving=reply.serving,
        split={weight.version: weight.weight for weight in reply.split},
        shadow_version=reply.shadow_version,
        shadow_fraction=reply.shadow_fraction,
        guards=[
            TrafficGuard(
                g.version,
                _optional(g, "max_error_rate"),
                _optional(g, "min_agreement"),
                g.window,
                g.tripped,
                g.reason,
                g.tripped_at,
            )
            for g in reply.guards
        ],
        versions=[
            VersionFigures(
                v.version, v.requests, v.errors, v.latency_p50_ms, v.latency_p99_ms, v.loaded
            )
            for v in reply.versions
        ],
        shadow=ShadowFigures(
            shadow.agree,
            shadow.disagree,
            shadow.shadow_error,
            shadow.dropped,
            shadow.mean_score_difference,
            shadow.shadow_latency_p50_ms,
            shadow.shadow_latency_p99_ms,
        ),
        changed_at=reply.changed_at,
        changed_by=reply.changed_by,
        message=reply.message,
    )


def _json(text: str) -> Any:
    return json.loads(text) if text else None


def sample_of(reply: Any) -> ShadowSample:
    """The :class:`ShadowSample` of a ``ShadowSampleResponse``."""
    rows = [
        ShadowSampleRow(
            at=row.at,
            input=_json(row.input),
            primary_version=row.primary_version,
            primary_label=_json(row.primary_label),
            primary_score=list(row.primary_score),
            shadow_version=row.shadow_version,
            shadow_label=_json(row.shadow_label),
            shadow_score=list(row.shadow_score),
            outcome=row.outcome,
            score_difference=row.score_difference,
        )
        for row in reply.rows
    ]
    return ShadowSample(rows, reply.data_name)
