"""The evaluations page's list: the results stored on the services (the truth: those made with
the CLI or the SDK are in it) merged with the dashboard's records, which say which dashboard
user ran an evaluation and keep its confusion matrix and details."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import attrs

from drucker.client import ClientError, StoredEvaluation
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.models import Evaluation, Service

RESULT_SUFFIX = ".result"


@attrs.frozen
class EvaluationRow:
    """One evaluation result, newest first in the list."""

    id: int | None  # the dashboard's record (its page, the comparison); None: the service's only
    application: str
    service_address: str
    model_name: str  # "" where only the service's result says nothing of the model
    data_name: str
    result_name: str
    num: int
    accuracy: float
    at: float
    by: str  # the dashboard user; "" for a result made elsewhere (the CLI, the SDK)
    source: str  # "service", "dashboard" (no longer on the service) or "both"


def merged_evaluations(
    stored: Sequence[tuple[Service, list[StoredEvaluation]]], dashboard: Sequence[Evaluation]
) -> list[EvaluationRow]:
    """Each service's stored results, named after the dashboard record of the same result
    (same application and result name) when there is one, and the dashboard records no service
    holds any more, newest first. Replicas of one shared store list a result once."""
    records = {(e.application, e.result_name): e for e in sorted(dashboard, key=lambda e: e.id)}
    matched: set[int] = set()
    seen: set[tuple[str, str]] = set()
    rows: list[EvaluationRow] = []
    for service, results in stored:
        for result in results:
            key = (service.application, result.name)
            if key in seen:
                continue
            seen.add(key)
            record = records.get(key)
            if record is not None:
                matched.add(record.id)
                rows.append(_row(record, "both", result))
                continue
            data = result.name.removesuffix(RESULT_SUFFIX)
            metrics = result.metrics
            rows.append(
                EvaluationRow(
                    None,
                    service.application,
                    service.address,
                    "",
                    data,
                    result.name,
                    metrics.num,
                    metrics.accuracy,
                    result.stored_at,
                    "",
                    "service",
                )
            )
    rows.extend(_row(record, "dashboard") for record in dashboard if record.id not in matched)
    return sorted(rows, key=lambda row: row.at, reverse=True)


def _row(record: Evaluation, source: str, stored: StoredEvaluation | None = None) -> EvaluationRow:
    """A dashboard record as a row (the service's metrics and time when it holds the result)."""
    return EvaluationRow(
        record.id,
        record.application,
        record.service_address,
        record.model_name,
        record.data_name,
        record.result_name,
        stored.metrics.num if stored else record.num,
        stored.metrics.accuracy if stored else record.accuracy,
        stored.stored_at if stored and stored.stored_at else record.created_at,
        record.created_by,
        source,
    )


async def stored_results(
    services: Sequence[Service], wait: float
) -> tuple[list[tuple[Service, list[StoredEvaluation]]], list[str]]:
    """Every service's stored results, asked at once (``wait`` seconds each), and a line for
    each service that did not answer (its results are then left out)."""

    async def one(service: Service) -> list[StoredEvaluation]:
        async with Endpoint.of(service).async_client(wait) as client:
            return await asyncio.wait_for(client.evaluation_results(timeout=wait), wait)

    answers = await asyncio.gather(*(one(s) for s in services), return_exceptions=True)
    listed: list[tuple[Service, list[StoredEvaluation]]] = []
    errors: list[str] = []
    for service, answer in zip(services, answers, strict=True):
        if isinstance(answer, ClientError | TimeoutError):
            errors.append(f"{service.application} ({service.address}): {answer or 'no answer'}")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            listed.append((service, answer))
    return listed, errors
