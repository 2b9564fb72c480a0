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
from drucker.client import ClientError, ServiceInfo, Unauthenticated
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.history import rollback_target as rollback_target  # the old home
from drucker.dashboard.inputs import ConnectionIn, ServiceIn
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
    owner: int = 0  # the id of the user who started it: the only one who may read it
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
        info = _checked_connection(endpoint)
    except Refused as refused:
        with db.session() as session:
            audit.record(
                session, user, "register", target=address, ok=False, message=refused.message
            )
        raise
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


def _checked_connection(endpoint: Endpoint) -> ServiceInfo:
    """The service's ServiceInfo, once its management token is known to be accepted.

    :raises Refused: (502) when the service does not answer, (422) when it refuses the token,
        saying which it is.
    """
    address = endpoint.address
    try:
        with endpoint.client(timeout=REGISTER_TIMEOUT) as client:
            info = client.service_info()
            client.model_history()  # a management read: the token is checked here
    except Unauthenticated as error:
        given = "the token given" if endpoint.token else "no token"
        raise Refused(
            f"{address} refuses {given} ({error}): give the service's management token (its "
            "management.token setting, or the .management-token file drucker serve writes)",
            422,
        ) from None
    except (ClientError, ValueError) as error:
        raise Refused(f"{address} does not answer ServiceInfo: {error}", 502) from None
    return info


def edit_service(
    db: Database, user: str, service_id: int, given: ConnectionIn, keep_empty: bool = False
) -> Service:
    """Change how a registered service is reached (token, TLS CA, metrics URL), checked first
    against the service as a registration is. Only the fields ``given`` sets change; with
    ``keep_empty`` (the form, which never shows the token or CA) an empty token or CA keeps
    the current one."""
    wanted = given.model_dump(exclude_unset=True)
    if keep_empty:
        wanted = {k: v for k, v in wanted.items() if v or k == "metrics_url"}
    with db.session() as session:
        service = session.get(Service, service_id)
        if service is None:
            raise Refused(f"no service {service_id}", 404)
        current = Endpoint.of(service)
    _checked_connection(attrs.evolve(current, **wanted))
    with db.session() as session:
        service = session.get(Service, service_id)
        if service is None:
            raise Refused(f"no service {service_id}", 404)
        changed = [key for key, value in wanted.items() if getattr(service, key) != value]
        for key, value in wanted.items():
            setattr(service, key, value)
        audit.record(
            session,
            user,
            "edit service",
            application=service.application,
            target=service.address,
            after=", ".join(changed) or "nothing changed",
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
    model: str = "",
) -> list[Outcome]:
    """Stream one file to several services at once (to the store of their model ``model`` on
    servers of several; ``""``: the default model's); each one's result is audited."""
    services = [queries.service(db, service_id) for service_id in service_ids]

    def push(service: Service) -> Outcome:
        try:
            with Endpoint.of(service, model).client(timeout=3600) as client:
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
                    model,
                    after=f"{name} sha256:{sha256[:12]}",
                    ok=outcome.ok,
                    message=outcome.message,
                )
            for application in {
                model or s.application for s, o in zip(services, outcomes, strict=True) if o.ok
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


def _serving(endpoint: Endpoint) -> str:
    with endpoint.client(timeout=REGISTER_TIMEOUT) as client:
        return client.service_info().model_name


def switch(db: Database, user: str, service_id: int, model: str, of: str = "") -> Outcome:
    """Make ``model`` serve on one service (as its model ``of`` on a server of several; ``""``:
    the default model); kept in the switch history and audited."""
    return _change(db, user, queries.service(db, service_id), model, of)


def rollback(db: Database, user: str, service_id: int, of: str = "") -> Outcome:
    """Step the service (its model ``of``) back through its own history (its RollbackModel: a
    second rollback goes further back), so switches made with the CLI or the SDK count too."""
    return _change(db, user, queries.service(db, service_id), None, of)


def _change(db: Database, user: str, service: Service, model: str | None, of: str) -> Outcome:
    """Switch to ``model``, or roll back when it is ``None``; record and audit the outcome."""
    before = ""
    after = model or ""
    endpoint = Endpoint.of(service, of)
    try:
        before = _serving(endpoint)
        with endpoint.client(timeout=600) as client:
            if model is None:
                message = client.rollback_model()
                after = client.service_info().model_name
            else:
                message = client.switch_model(model)
        ok = True
    except ClientError as error:
        if model is None and "no earlier model" in str(error):
            raise Refused("no earlier model to roll back to", 409) from None
        ok, message = False, str(error)
    with db.session() as session:
        session.add(
            Switch(
                service_id=service.id,
                model=of,
                from_model=before,
                to_model=after,
                is_rollback=model is None,
                ok=ok,
                user=user,
            )
        )
        audit.on_service(
            session,
            user,
            "rollback" if model is None else "switch",
            service,
            of,
            before=before,
            after=after,
            ok=ok,
            message=message,
        )
    return Outcome(service.id, service.address, ok, message)


# -- evaluations ------------------------------------------------------------------------------


def evaluate(
    db: Database, user: str, service_id: int, data_path: Path, data_name: str, of: str = ""
) -> Evaluation:
    """Upload labelled data, evaluate the serving model on it and keep the whole result (of the
    service's model ``of`` on a server of several, kept under that model's name)."""
    service = queries.service(db, service_id)
    try:
        with Endpoint.of(service, of).client(timeout=600) as client:
            info = client.service_info()
            client.upload_evaluation_data(data_path, data_name)
            result_name = f"{data_name}.{info.model_name}.result"
            metrics = client.evaluate(data_name, result_name)
            _, records = client.evaluation_result(result_name)
            details = evaluations.details_of(metrics.labels, records)
    except ClientError as error:
        with db.session() as session:
            audit.on_service(
                session,
                user,
                "evaluate",
                service,
                of,
                after=data_name,
                ok=False,
                message=str(error),
            )
        raise Refused(f"evaluation failed: {error}", 502) from None
    with db.session() as session:
        row = Evaluation(
            service_id=service.id,
            application=of or service.application,
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
            of,
            before=info.model_name,
            after=f"{data_name}: accuracy {metrics.accuracy:.4f}",
        )
    return row


def _padded(values: list[float], labels: list[str]) -> list[float]:
    return [*values, *[0.0] * (len(labels) - len(values))]
