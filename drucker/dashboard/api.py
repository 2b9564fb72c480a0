"""The JSON API for scripts: what the pages do, authenticated by per-user API tokens.

Mounted at ``/api``; its OpenAPI schema is served at ``/api/openapi.json`` (docs at
``/api/docs``). Send ``Authorization: Bearer <token>``; make a token on the account page.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import attrs
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select

from drucker.client import ClientError
from drucker.dashboard import accounts, audit, operations, uploads
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.models import Evaluation, Role, Service
from drucker.dashboard.web import Denied, Viewer, fetch_services, in_thread, require, state

_bearer = HTTPBearer(auto_error=False, description="a dashboard API token")
STATUS_WAIT = 0.5


MAX_ID = 2**31 - 1
Id = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ServiceId = Annotated[int, Field(ge=1, le=MAX_ID)]

# A stored file's name, as services accept it.
FileName = Annotated[
    str, PathParam(pattern=operations.NAME_PATTERN, description="a file name in a store")
]


class CSVResponse(PlainTextResponse):
    media_type = "text/csv"


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


ERROR_CODES = (400, 401, 403, 404, 409, 422, 502)
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in ERROR_CODES}
# Routes that answer text still answer errors as JSON.
TEXT_ROUTE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "model": Problem,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code in ERROR_CODES
}


async def api_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Denied("send an API token: Authorization: Bearer <token>", 401)
    with state(request).db.session() as session:
        user = accounts.user_of_token(session, credentials.credentials)
        if user is None:
            raise Denied("unknown API token", 401)
        return Viewer.of(user)


User = Annotated[Viewer, Depends(api_user)]


class Me(BaseModel):
    name: str
    role: Role


class ServiceOut(BaseModel):
    id: int
    address: str
    application: str
    service_name: str
    level: str
    metrics_url: str
    has_token: bool
    has_tls_ca: bool
    up: bool | None = Field(default=None, description="null while the first check is under way")
    model_name: str | None = None
    model_sha256: str | None = None
    request_rate: float | None = None
    p99_seconds: float | None = None
    error: str = ""


class ServiceIn(BaseModel):
    address: str = Field(
        ...,
        max_length=255,
        pattern=r"^[^\s/:]+:[0-9]{1,5}$|^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$",
        examples=["127.0.0.1:5000"],
        description="HOST:PORT of a running drucker service",
    )
    token: str = Field("", max_length=4096, pattern=r"^[!-~]*$", description="printable ASCII")
    tls_ca: str = Field("", max_length=65536, description="PEM of the CA; empty: plaintext")
    metrics_url: str = Field("", max_length=1024, pattern=r"^(https?://\S+)?$")


class StoredModelOut(BaseModel):
    name: str
    size: int
    sha256: str
    uploaded_at: float
    active: bool
    description: str = ""


class SwitchIn(BaseModel):
    model: str = Field(..., min_length=1, max_length=255)
    confirm: bool = Field(False, description="required (true) for production services")


class LevelSwitchIn(SwitchIn):
    application: str = Field(..., min_length=1, max_length=128)
    level: str = Field(..., min_length=1, max_length=16)


class OutcomeOut(BaseModel):
    service_id: Id
    address: str
    ok: bool
    message: str


class UploadOut(BaseModel):
    name: str
    sha256: str
    size: int
    outcomes: list[OutcomeOut]


class SwitchOut(BaseModel):
    id: int
    from_model: str
    to_model: str
    is_rollback: bool
    ok: bool
    user: str
    at: float


class EvaluateIn(BaseModel):
    data_name: str = Field(..., min_length=1, max_length=255)


class EvaluationOut(BaseModel):
    id: int
    application: str
    service_address: str
    data_name: str
    model_name: str
    model_sha256: str
    num: int
    accuracy: float
    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    confusion: list[list[int]]
    created_by: str
    created_at: float


class AuditOut(BaseModel):
    id: int
    at: float
    user: str
    action: str
    application: str
    target: str
    before: str
    after: str
    ok: bool
    message: str


class UserIn(BaseModel):
    name: str = Field(..., pattern=r"^[A-Za-z0-9._@-]{1,64}$")
    role: Role
    password: str = Field(..., min_length=8, max_length=1024)


def _service_out(service: Service, status: Any) -> ServiceOut:
    out = ServiceOut(
        id=service.id,
        address=service.address,
        application=service.application,
        service_name=service.service_name,
        level=service.level,
        metrics_url=service.metrics_url,
        has_token=bool(service.token),
        has_tls_ca=bool(service.tls_ca),
    )
    if status is not None:
        out.up = status.up
        out.error = status.error
        out.request_rate = status.request_rate
        out.p99_seconds = status.p99_seconds
        if status.info is not None:
            out.model_name = status.info.model_name
            out.model_sha256 = status.info.model_sha256
    return out


def _get_service(request: Request, service_id: Id) -> Service:
    with state(request).db.session() as session:
        service = session.get(Service, service_id)
        if service is None:
            raise HTTPException(404, f"no service {service_id}")
        session.expunge(service)
        return service


def _confirm(service: Service, confirm: bool) -> None:
    if service.level == "production" and not confirm:
        raise HTTPException(409, f"{service.address} is production: send confirm: true")


def build_api() -> FastAPI:
    """The API application (mounted under ``/api`` by the dashboard)."""
    api = FastAPI(
        title="drucker dashboard API",
        version="1",
        description=__doc__,
        responses=ERRORS,
        docs_url="/docs",
        redoc_url=None,
    )

    @api.exception_handler(Denied)
    async def denied(request: Request, error: Denied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse({"detail": error.message}, error.status, headers=headers)

    @api.exception_handler(operations.OperationError)
    async def refused(request: Request, error: operations.OperationError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, error.status)

    @api.get("/me", response_model=Me)
    async def me(user: User) -> Me:
        return Me(name=user.name, role=user.role)

    @api.get("/services", response_model=list[ServiceOut])
    async def services(request: Request, user: User) -> list[ServiceOut]:
        rows = fetch_services(state(request))
        statuses = await state(request).board.statuses(map(Endpoint.of, rows), STATUS_WAIT)
        return [_service_out(row, statuses.get(row.id)) for row in rows]

    @api.post("/services", response_model=ServiceOut, status_code=201)
    async def register(request: Request, user: User, body: ServiceIn) -> ServiceOut:
        require(user, admin=True)
        service = await in_thread(
            operations.register_service,
            state(request).db,
            user.name,
            body.address,
            token=body.token,
            tls_ca=body.tls_ca,
            metrics_url=body.metrics_url,
        )
        state(request).board.watch([Endpoint.of(service)])
        return _service_out(service, None)

    @api.get("/services/{service_id}", response_model=ServiceOut)
    async def service(request: Request, user: User, service_id: Id) -> ServiceOut:
        row = _get_service(request, service_id)
        status = (await state(request).board.statuses([Endpoint.of(row)], STATUS_WAIT))[row.id]
        return _service_out(row, status)

    @api.delete("/services/{service_id}", status_code=204)
    async def remove(request: Request, user: User, service_id: Id) -> None:
        require(user, admin=True)
        await in_thread(operations.remove_service, state(request).db, user.name, service_id)
        state(request).board.forget(service_id)

    @api.get("/services/{service_id}/models", response_model=list[StoredModelOut])
    async def models(request: Request, user: User, service_id: Id) -> list[StoredModelOut]:
        row = _get_service(request, service_id)
        timeout = state(request).settings.status_timeout
        try:
            async with Endpoint.of(row).async_client(timeout) as client:
                stored, _ = await asyncio.wait_for(client.list_models(), timeout)
        except (ClientError, TimeoutError) as error:
            raise HTTPException(502, f"{row.address}: {error or 'no answer in time'}") from None
        notes = operations.notes(state(request).db, row.application)
        return [
            StoredModelOut(
                name=m.name,
                size=m.size,
                sha256=m.sha256,
                uploaded_at=m.uploaded_at,
                active=m.active,
                description=notes[m.name].description if m.name in notes else "",
            )
            for m in stored
        ]

    @api.put(
        "/models/{name}",
        response_model=UploadOut,
        responses={502: {"model": UploadOut, "description": "a service refused the upload"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def upload(
        request: Request,
        user: User,
        name: FileName,
        service: Annotated[
            list[ServiceId], Query(min_length=1, description="ids of the services to upload to")
        ],
        description: Annotated[str, Query(max_length=2000)] = "",
    ) -> Any:
        """Stream the request body (the model file) to every service named by ``service``."""
        require(user, edit=True)
        return await uploads.receive_and_push(request, user, name, service, description, "")

    @api.post(
        "/services/{service_id}/switch",
        response_model=OutcomeOut,
        responses={502: {"model": OutcomeOut, "description": "the service refused the switch"}},
    )
    async def switch(request: Request, user: User, service_id: Id, body: SwitchIn) -> Any:
        require(user, edit=True)
        row = _get_service(request, service_id)
        _confirm(row, body.confirm)
        outcome = await in_thread(
            operations.switch, state(request).db, user.name, row.id, body.model
        )
        state(request).board.forget(row.id)
        return JSONResponse(
            OutcomeOut(**attrs.asdict(outcome)).model_dump(), 200 if outcome.ok else 502
        )

    @api.post(
        "/levels/switch",
        response_model=list[OutcomeOut],
        responses={502: {"model": list[OutcomeOut], "description": "a service refused"}},
    )
    async def switch_level(request: Request, user: User, body: LevelSwitchIn) -> Any:
        require(user, edit=True)
        rows = operations.services_of_level(state(request).db, body.application, body.level)
        if not rows:
            raise HTTPException(404, f"no {body.level} services of {body.application}")
        for row in rows:
            _confirm(row, body.confirm)
        outcomes = await asyncio.gather(
            *(
                in_thread(operations.switch, state(request).db, user.name, r.id, body.model)
                for r in rows
            )
        )
        for row in rows:
            state(request).board.forget(row.id)
        content = [OutcomeOut(**attrs.asdict(o)).model_dump() for o in outcomes]
        return JSONResponse(content, 200 if all(o.ok for o in outcomes) else 502)

    @api.post(
        "/services/{service_id}/rollback",
        response_model=OutcomeOut,
        responses={502: {"model": OutcomeOut, "description": "the service refused the switch"}},
    )
    async def rollback(request: Request, user: User, service_id: Id) -> Any:
        require(user, edit=True)
        row = _get_service(request, service_id)
        outcome = await in_thread(operations.rollback, state(request).db, user.name, row.id)
        state(request).board.forget(row.id)
        return JSONResponse(
            OutcomeOut(**attrs.asdict(outcome)).model_dump(), 200 if outcome.ok else 502
        )

    @api.get("/services/{service_id}/switches", response_model=list[SwitchOut])
    async def switches(request: Request, user: User, service_id: Id) -> list[SwitchOut]:
        _get_service(request, service_id)
        return [
            SwitchOut(
                id=s.id,
                from_model=s.from_model,
                to_model=s.to_model,
                is_rollback=s.is_rollback,
                ok=s.ok,
                user=s.user,
                at=s.at,
            )
            for s in operations.history(state(request).db, service_id)
        ]

    @api.get(
        "/services/{service_id}/manifests",
        response_class=PlainTextResponse,
        responses=TEXT_ROUTE_ERRORS,
    )
    async def manifests(request: Request, user: User, service_id: Id) -> str:
        """The Kubernetes manifests kept for the service (``drucker bundle k8s`` output)."""
        return _get_service(request, service_id).k8s_manifests

    @api.put(
        "/services/{service_id}/manifests",
        status_code=204,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/yaml": {"schema": {"type": "string"}}},
            }
        },
    )
    async def set_manifests(request: Request, user: User, service_id: Id) -> None:
        """Keep Kubernetes manifests (YAML, e.g. ``drucker bundle k8s`` output) for a service."""
        require(user, admin=True)
        body = await request.body()
        if len(body) > 4 * 1024 * 1024:
            raise HTTPException(400, "manifests are at most 4 MiB")
        text = body.decode("utf-8", errors="replace")
        await in_thread(operations.set_manifests, state(request).db, user.name, service_id, text)

    @api.get("/evaluations", response_model=list[EvaluationOut])
    async def evaluations(
        request: Request, user: User, application: str | None = None
    ) -> list[EvaluationOut]:
        with state(request).db.session() as session:
            query = select(Evaluation).order_by(Evaluation.id.desc())
            if application:
                query = query.where(Evaluation.application == application)
            return [
                EvaluationOut.model_validate(e, from_attributes=True)
                for e in session.scalars(query)
            ]

    @api.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
    async def evaluation(request: Request, user: User, evaluation_id: Id) -> EvaluationOut:
        with state(request).db.session() as session:
            row = session.get(Evaluation, evaluation_id)
            if row is None:
                raise HTTPException(404, f"no evaluation {evaluation_id}")
            return EvaluationOut.model_validate(row, from_attributes=True)

    @api.get(
        "/evaluations/{evaluation_id}/details.csv",
        response_class=CSVResponse,
        responses=TEXT_ROUTE_ERRORS,
    )
    async def evaluation_csv(request: Request, user: User, evaluation_id: Id) -> PlainTextResponse:
        with state(request).db.session() as session:
            row = session.get(Evaluation, evaluation_id)
            if row is None:
                raise HTTPException(404, f"no evaluation {evaluation_id}")
            return CSVResponse(row.details_csv)

    @api.put(
        "/services/{service_id}/evaluation-data/{name}",
        response_model=EvaluationOut,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def evaluate(
        request: Request, user: User, service_id: Id, name: FileName
    ) -> EvaluationOut:
        """Upload the request body as evaluation data and evaluate the serving model on it."""
        require(user, edit=True)
        row = _get_service(request, service_id)
        async with uploads.received_file(request, state(request).upload_dir) as (path, _, _):
            result = await in_thread(
                operations.evaluate, state(request).db, user.name, row.id, path, name
            )
        return EvaluationOut.model_validate(result, from_attributes=True)

    @api.get("/audit", response_model=list[AuditOut])
    async def audit_log(
        request: Request,
        user: User,
        application: str | None = None,
        who: Annotated[str | None, Query(alias="user")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[AuditOut]:
        with state(request).db.session() as session:
            rows = audit.entries(session, application=application, user=who, limit=limit)
            return [AuditOut(**row.as_dict()) for row in rows]

    @api.get("/users", response_model=list[Me])
    async def users(request: Request, user: User) -> list[Me]:
        require(user, admin=True)
        with state(request).db.session() as session:
            return [Me(name=u.name, role=u.role_enum) for u in accounts.list_users(session)]

    @api.post("/users", response_model=Me, status_code=201)
    async def add_user(request: Request, user: User, body: Annotated[UserIn, Body()]) -> Me:
        require(user, admin=True)
        with state(request).db.session() as session:
            try:
                created = accounts.create_user(session, body.name, body.role.value, body.password)
            except accounts.AccountError as error:
                raise HTTPException(error.status, str(error)) from None
            audit.record(session, user.name, "add user", target=body.name, after=body.role.value)
            return Me(name=created.name, role=created.role_enum)

    return api
