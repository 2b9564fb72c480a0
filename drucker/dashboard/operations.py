"""What the pages and the JSON API do: each change talks to services through the client SDK,
is kept in the switch history or the evaluations where that applies, and is audited.

The calls that wait on services (uploads, switches, evaluations) block; the web layer runs them
in worker threads.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from pathlib import Path

import attrs
from sqlalchemy import select

import drucker.dashboard.audit as audit
import drucker.dashboard.evaluations as evaluations
import drucker.dashboard.inputs as inputs
import drucker.dashboard.queries as queries
from drucker.client import ClientError
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import ServiceIn
from drucker.dashboard.models import LEVELS, Evaluation, ModelNote, Service, Switch

REGISTER_TIMEOUT = 5.0
NAME_PATTERN = inputs.NAME_PATTERN


OperationError = Refused  # the old name of the dashboard's refusals


@attrs.define
class Outcome:
    """How one change on one service ended."""

    service_id: int
    address: str
    ok: bool
    message: str


@attrs.define
class UploadProgress:
    """Bytes pushed to each service by one upload (read by the progress bar)."""

    total: int
    sent: dict[str, int] = attrs.field(factory=dict)
    done: bool = False
    outcomes: list[Outcome] = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def advance(self, address: str) -> Callable[[int, int], None]:
        def report(sent: int, _total: int) -> None:
            with self.lock:
                self.sent[address] = sent

        return report

    def as_dict(self) -> dict[str, object]:
        with self.lock:
            return {
                "total": self.total,
                "sent": dict(self.sent),
                "done": self.done,
                "outcomes": [attrs.asdict(o) for o in self.outcomes],
            }


# -- services ---------------------------------------------------------------------------------


def register_service(db: Database, user: str, given: ServiceIn) -> Service:
    """Register a running service; its application, name and level come from ServiceInfo."""
    address = given.address
    with db.session() as session:
        if session.scalar(select(Service).where(Service.address == address)) is not None:
            raise Refused(f"{address} is registered already", 409)
    endpoint = Endpoint(0, address, given.token, given.tls_ca, given.metrics_url)
    try:
        with endpoint.client(timeout=REGISTER_TIMEOUT) as client:
            info = client.service_info()
    except (ClientError, ValueError) as error:
        with db.session() as session:
            audit.record(session, user, "register", target=address, ok=False, message=str(error))
        raise Refused(f"{address} does not answer ServiceInfo: {error}", 502) from None
    level = info.service_level if info.service_level in LEVELS else "development"
    with db.session() as session:
        service = Service(
            **given.model_dump(),  # address, token, tls_ca, metrics_url
            application=info.application_name,
            service_name=info.service_name,
            level=level,
            k8s_manifests="",
        )
        session.add(service)
        session.flush()
        audit.record(
            session,
            user,
            "register",
            application=info.application_name,
            target=address,
            after=f"{info.service_name} ({level})",
        )
    return service


def remove_service(db: Database, user: str, service_id: int) -> None:
    with db.session() as session:
        service = session.get(Service, service_id)
        if service is None:
            raise Refused(f"no service {service_id}", 404)
        audit.on_service(session, user, "remove", service)
        session.delete(service)


def set_manifests(db: Database, user: str, service_id: int, text: str) -> None:
    """Keep the Kubernetes manifests (``drucker bundle k8s`` output) shown for a service."""
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise Refused(f"the manifests are not YAML: {error}") from None
    if not all(isinstance(d, dict) and "kind" in d for d in documents):
        raise Refused("every manifest document needs a 'kind'")
    with db.session() as session:
        service = session.get(Service, service_id)
        if service is None:
            raise Refused(f"no service {service_id}", 404)
        service.k8s_manifests = text
        kinds = ", ".join(str(d["kind"]) for d in documents)
        audit.on_service(session, user, "manifests", service, after=kinds)


# -- models -----------------------------------------------------------------------------------


def upload_model(
    db: Database,
    user: str,
    service_ids: list[int],
    path: Path,
    name: str,
    sha256: str,
    description: str,
    progress: UploadProgress,
) -> list[Outcome]:
    """Stream one file to several services at once; each one's result is audited."""
    services = [queries.service(db, service_id) for service_id in service_ids]

    def push(service: Service) -> Outcome:
        try:
            with Endpoint.of(service).client(timeout=3600) as client:
                message = client.upload_model(
                    path, name, sha256=sha256, progress=progress.advance(service.address)
                )
            return Outcome(service.id, service.address, True, message)
        except (ClientError, OSError) as error:
            return Outcome(service.id, service.address, False, str(error))

    try:
        with concurrent.futures.ThreadPoolExecutor(max(1, len(services))) as pool:
            outcomes = list(pool.map(push, services))
        size = path.stat().st_size
        with db.session() as session:
            for service, outcome in zip(services, outcomes, strict=True):
                audit.on_service(
                    session,
                    user,
                    "upload",
                    service,
                    after=f"{name} sha256:{sha256[:12]}",
                    ok=outcome.ok,
                    message=outcome.message,
                )
            for application in {
                s.application for s, o in zip(services, outcomes, strict=True) if o.ok
            }:
                session.add(
                    ModelNote(
                        application=application,
                        name=name,
                        sha256=sha256,
                        size=size,
                        description=description,
                        uploaded_by=user,
                    )
                )
        progress.outcomes = outcomes
        return outcomes
    finally:
        progress.done = True


def _serving(service: Service) -> str:
    with Endpoint.of(service).client(timeout=REGISTER_TIMEOUT) as client:
        return client.service_info().model_name


def switch(
    db: Database, user: str, service_id: int, model: str, *, rollback: bool = False
) -> Outcome:
    """Make ``model`` serve on one service; kept in the switch history and audited."""
    service = queries.service(db, service_id)
    before = ""
    try:
        before = _serving(service)
        with Endpoint.of(service).client(timeout=600) as client:
            message = client.switch_model(model)
        ok = True
    except ClientError as error:
        ok, message = False, str(error)
    with db.session() as session:
        session.add(
            Switch(
                service_id=service.id,
                from_model=before,
                to_model=model,
                is_rollback=rollback,
                ok=ok,
                user=user,
            )
        )
        audit.on_service(
            session,
            user,
            "rollback" if rollback else "switch",
            service,
            before=before,
            after=model,
            ok=ok,
            message=message,
        )
    return Outcome(service.id, service.address, ok, message)


def rollback_target(switches: list[Switch]) -> str | None:
    """The model before the current one: each rollback undoes the newest switch not undone."""
    undone = 0
    for record in switches:
        if not record.ok:
            continue
        if record.is_rollback:
            undone += 1
        elif undone:
            undone -= 1
        else:
            return record.from_model or None
    return None


def rollback(db: Database, user: str, service_id: int) -> Outcome:
    target = rollback_target(queries.history(db, service_id))
    if target is None:
        raise Refused("no earlier model to roll back to", 409)
    return switch(db, user, service_id, target, rollback=True)


# -- evaluations ------------------------------------------------------------------------------


def evaluate(
    db: Database, user: str, service_id: int, data_path: Path, data_name: str
) -> Evaluation:
    """Upload labelled data, evaluate the serving model on it and keep the whole result."""
    service = queries.service(db, service_id)
    try:
        with Endpoint.of(service).client(timeout=600) as client:
            info = client.service_info()
            client.upload_evaluation_data(data_path, data_name)
            result_name = f"{data_name}.{info.model_name}.result"
            metrics = client.evaluate(data_name, result_name)
            _, records = client.evaluation_result(result_name)
            details = evaluations.details_of(metrics.labels, records)
    except ClientError as error:
        with db.session() as session:
            audit.on_service(
                session, user, "evaluate", service, after=data_name, ok=False, message=str(error)
            )
        raise Refused(f"evaluation failed: {error}", 502) from None
    with db.session() as session:
        row = Evaluation(
            service_id=service.id,
            application=service.application,
            service_address=service.address,
            data_name=data_name,
            result_name=result_name,
            model_name=info.model_name,
            model_sha256=info.model_sha256,
            num=metrics.num,
            accuracy=metrics.accuracy,
            labels=details.labels,
            precision=_padded(metrics.precision, details.labels),
            recall=_padded(metrics.recall, details.labels),
            f1=_padded(metrics.f1, details.labels),
            confusion=details.confusion,
            details_csv=details.csv,
            created_by=user,
        )
        session.add(row)
        session.flush()
        audit.on_service(
            session,
            user,
            "evaluate",
            service,
            before=info.model_name,
            after=f"{data_name}: accuracy {metrics.accuracy:.4f}",
        )
    return row


def _padded(values: list[float], labels: list[str]) -> list[float]:
    return [*values, *[0.0] * (len(labels) - len(values))]
