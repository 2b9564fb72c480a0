"""Two versions of a model evaluated on a stored data set, side by side.

A kept evaluation names a data set stored on the service and its result, whose per-sample
records hold each input with its true label. Each version answers those inputs through V2
inference naming the version explicitly (so the split is bypassed and nothing is shadowed),
and each version's answers are kept as an evaluation of its own, ready for the comparison page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import drucker.dashboard.audit as audit
import drucker.dashboard.evaluations as evaluations
import drucker.dashboard.queries as queries
import drucker.dashboard.traffic as traffic
from drucker.client import Client, ClientError, EvaluationRecord
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import Evaluation
from drucker.evaluation import MetricsAccumulator

BATCH = 64  # inputs per inference call
LOAD_HINT = (
    "a version answers here while it is loaded: the serving one, one in the split, the shadow, "
    "or the one a promote replaced"
)


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _scores(value: Any) -> list[float]:
    flat = np.asarray(value, dtype=float).ravel()
    return [float(v) for v in flat]


def answers(
    client: Client, version: str, records: list[EvaluationRecord]
) -> list[EvaluationRecord]:
    """``version``'s answers to the records' inputs, as evaluation records (true labels kept)."""
    answered: list[EvaluationRecord] = []
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        try:
            outputs = client.infer(np.asarray([r.input for r in batch]), version=version)
        except ClientError as error:
            raise Refused(f"{error.message} ({LOAD_HINT})", 409) from None
        labels = outputs.get("label", outputs.get("output"))
        if labels is None:
            raise Refused(f"{version} answered no 'label' tensor: {', '.join(outputs)}", 502)
        scores = outputs.get("score")
        for index, record in enumerate(batch):
            label = _text(labels[index])
            score = _scores(scores[index]) if scores is not None else []
            correct = label == _text(record.label)
            answered.append(EvaluationRecord(record.input, record.label, label, score, correct))
    return answered


def _metrics(records: Iterable[EvaluationRecord]) -> MetricsAccumulator:
    counts = MetricsAccumulator()
    for record in records:
        counts.add(_text(record.label), _text(record.output), record.is_correct)
    return counts


def compare_versions(
    db: Database, user: str, evaluation_id: int, model: str, versions: tuple[str, str]
) -> tuple[Evaluation, Evaluation]:
    """Evaluate both versions on the data set of a kept evaluation; both results kept.

    :raises Refused: when the service no longer holds the result, or a version does not
        answer (the service's reason: e.g. a version that is not loaded).
    """
    base = queries.evaluation(db, evaluation_id)
    if base.service_id is None:
        raise Refused(f"the service of evaluation #{base.id} is no longer registered", 409)
    service = queries.service(db, base.service_id)
    try:
        with Endpoint.of(service, model).client(traffic.CHANGE_TIMEOUT) as client:
            _, stream = client.evaluation_result(base.result_name)
            records = list(stream)
            results = [(version, answers(client, version, records)) for version in versions]
    except ClientError as error:
        with db.session() as session:
            audit.on_service(
                session,
                user,
                "compare versions",
                service,
                after=f"{' and '.join(versions)} on {base.data_name}",
                ok=False,
                message=str(error),
            )
        raise traffic.refusal(error, service.address) from None
    rows = []
    with db.session() as session:
        for version, answered in results:
            metrics = _metrics(answered).metrics()
            details = evaluations.details_of(metrics.labels, answered)
            padding = [0.0] * (len(details.labels) - len(metrics.labels))
            row = Evaluation(
                service_id=service.id,
                application=base.application,
                service_address=service.address,
                data_name=base.data_name,
                result_name=f"{base.result_name} (V2 answers of {version})",
                model_name=version,
                model_sha256="",
                num=metrics.num,
                accuracy=metrics.accuracy,
                labels=details.labels,
                precision=[*metrics.precision, *padding],
                recall=[*metrics.recall, *padding],
                f1=[*metrics.f1, *padding],
                confusion=details.confusion,
                details_csv=details.csv,
                created_by=user,
            )
            session.add(row)
            rows.append(row)
        session.flush()
        audit.on_service(
            session,
            user,
            "compare versions",
            service,
            after=", ".join(f"{r.model_name}: accuracy {r.accuracy:.4f}" for r in rows)
            + f" on {base.data_name}",
        )
    return rows[0], rows[1]
