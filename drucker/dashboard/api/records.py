"""The API's records: who is calling, evaluations, the audit log and users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import PlainTextResponse

import drucker.dashboard.accounts as accounts
import drucker.dashboard.audit as audit
import drucker.dashboard.operations as operations
import drucker.dashboard.queries as queries
import drucker.dashboard.repository as repository
import drucker.dashboard.uploads as uploads
from drucker.dashboard.api.auth import User
from drucker.dashboard.api.schemas import (
    BINARY_BODY,
    TEXT_ROUTE_ERRORS,
    AuditOut,
    CSVResponse,
    EvaluationOut,
    FileName,
    Id,
    Me,
    ModelNameQuery,
)
from drucker.dashboard.inputs import UserIn
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()


@router.get("/me", response_model=Me)
async def me(user: User) -> Me:
    return Me(name=user.name, role=user.role)


@router.get("/evaluations", response_model=list[EvaluationOut])
async def evaluations(
    request: Request, user: User, application: str | None = None
) -> list[EvaluationOut]:
    rows = queries.evaluations(state(request).db, application)
    return [EvaluationOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
async def evaluation(request: Request, user: User, evaluation_id: Id) -> EvaluationOut:
    row = queries.evaluation(state(request).db, evaluation_id)
    return EvaluationOut.model_validate(row, from_attributes=True)


@router.get(
    "/evaluations/{evaluation_id}/details.csv",
    response_class=CSVResponse,
    responses=TEXT_ROUTE_ERRORS,
)
async def evaluation_csv(request: Request, user: User, evaluation_id: Id) -> PlainTextResponse:
    return CSVResponse(queries.evaluation(state(request).db, evaluation_id).details_csv)


@router.put(
    "/services/{service_id}/evaluation-data/{name}",
    response_model=EvaluationOut,
    openapi_extra=BINARY_BODY,
)
async def evaluate(
    request: Request, user: User, service_id: Id, name: FileName, model_name: ModelNameQuery = ""
) -> EvaluationOut:
    """Upload the request body as evaluation data and evaluate the serving model on it (the
    service's model ``model_name`` on a server of several; kept under that model's name)."""
    require(user, edit=True)
    app_state = state(request)
    row = queries.service(app_state.db, service_id)
    key = repository.model_key(row, model_name)
    limit = app_state.settings.max_upload_bytes
    db = app_state.db
    async with uploads.received_file(request, app_state.upload_dir, limit) as (path, _, _):
        result = await in_thread(operations.evaluate, db, user.name, row.id, path, name, key)
    return EvaluationOut.model_validate(result, from_attributes=True)


@router.get("/audit", response_model=list[AuditOut])
async def audit_log(
    request: Request,
    user: User,
    application: str | None = None,
    who: Annotated[str | None, Query(alias="user")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditOut]:
    rows = queries.audit_entries(state(request).db, application=application, user=who, limit=limit)
    return [AuditOut(**row.as_dict()) for row in rows]


@router.get("/users", response_model=list[Me])
async def users(request: Request, user: User) -> list[Me]:
    require(user, admin=True)
    return [Me(name=u.name, role=u.role_enum) for u in queries.users(state(request).db)]


@router.post("/users", response_model=Me, status_code=201)
async def add_user(request: Request, user: User, body: Annotated[UserIn, Body()]) -> Me:
    require(user, admin=True)
    with state(request).db.session() as session:
        created = accounts.create_user(session, body.name, body.role.value, body.password)
        audit.record(session, user.name, "add user", target=body.name, after=body.role.value)
        return Me(name=created.name, role=created.role_enum)
