"""The API's services: register, status, stored models, uploads, switches and manifests."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import attrs
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

import drucker.dashboard.operations as operations
import drucker.dashboard.queries as queries
import drucker.dashboard.repository as repository
import drucker.dashboard.uploads as uploads
from drucker.client import ClientError
from drucker.dashboard.api.auth import User
from drucker.dashboard.api.schemas import (
    BINARY_BODY,
    TEXT_ROUTE_ERRORS,
    YAML_BODY,
    FileName,
    Id,
    ModelNameQuery,
    OutcomeOut,
    ServiceId,
    ServiceOut,
    StoredModelOut,
    SwitchOut,
    UploadOut,
)
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import ConnectionIn, LevelSwitchIn, ServiceIn, SwitchIn
from drucker.dashboard.models import Service
from drucker.dashboard.web import in_thread, require, state

STATUS_WAIT = 0.5
MAX_MANIFESTS = 4 * 1024 * 1024
router = APIRouter()


def _confirm(service: Service, confirm: bool) -> None:
    if service.level == "production" and not confirm:
        raise Refused(f"{service.address} is production: send confirm: true", 409)


def _outcome(outcome: operations.Outcome) -> JSONResponse:
    return JSONResponse(
        OutcomeOut(**attrs.asdict(outcome)).model_dump(), 200 if outcome.ok else 502
    )


@router.get("/services", response_model=list[ServiceOut])
async def services(request: Request, user: User) -> list[ServiceOut]:
    rows = queries.services(state(request).db)
    statuses = await state(request).board.statuses(map(Endpoint.of, rows), STATUS_WAIT)
    return [ServiceOut.of(row, statuses.get(row.id)) for row in rows]


@router.post("/services", response_model=ServiceOut, status_code=201)
async def register(request: Request, user: User, body: ServiceIn) -> ServiceOut:
    require(user, admin=True)
    service = await in_thread(operations.register_service, state(request).db, user.name, body)
    state(request).board.watch([Endpoint.of(service)])
    return ServiceOut.of(service, None)


@router.get("/services/{service_id}", response_model=ServiceOut)
async def service(request: Request, user: User, service_id: Id) -> ServiceOut:
    row = queries.service(state(request).db, service_id)
    status = (await state(request).board.statuses([Endpoint.of(row)], STATUS_WAIT))[row.id]
    return ServiceOut.of(row, status)


@router.patch("/services/{service_id}", response_model=ServiceOut)
async def edit(request: Request, user: User, service_id: Id, body: ConnectionIn) -> ServiceOut:
    """Change the token, TLS CA or metrics URL the dashboard reaches the service with."""
    require(user, admin=True)
    app_state = state(request)
    service = await in_thread(operations.edit_service, app_state.db, user.name, service_id, body)
    app_state.board.forget(service_id)
    app_state.board.watch([Endpoint.of(service)])
    return ServiceOut.of(service, None)


@router.delete("/services/{service_id}", status_code=204)
async def remove(request: Request, user: User, service_id: Id) -> None:
    require(user, admin=True)
    await in_thread(operations.remove_service, state(request).db, user.name, service_id)
    state(request).board.forget(service_id)


@router.get("/services/{service_id}/models", response_model=list[StoredModelOut])
async def models(
    request: Request, user: User, service_id: Id, model_name: ModelNameQuery = ""
) -> list[StoredModelOut]:
    """The stored files of the service's model (its default model without ``model_name``)."""
    row = queries.service(state(request).db, service_id)
    timeout = state(request).settings.status_timeout
    key = repository.model_key(row, model_name)
    try:
        async with Endpoint.of(row, key).async_client(timeout) as client:
            stored, _ = await asyncio.wait_for(client.list_models(), timeout)
    except (ClientError, TimeoutError) as error:
        raise Refused(f"{row.address}: {error or 'no answer in time'}", 502) from None
    notes = queries.notes(state(request).db, key or row.application)
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


@router.put(
    "/models/{name}",
    response_model=UploadOut,
    responses={502: {"model": UploadOut, "description": "a service refused the upload"}},
    openapi_extra=BINARY_BODY,
)
async def upload(
    request: Request,
    user: User,
    name: FileName,
    service: Annotated[
        list[ServiceId], Query(min_length=1, description="ids of the services to upload to")
    ],
    description: Annotated[str, Query(max_length=2000)] = "",
    model_name: ModelNameQuery = "",
) -> Any:
    """Stream the request body (the model file) to every service named by ``service`` (into
    the store of their model ``model_name`` on servers of several models)."""
    require(user, edit=True)
    return await uploads.receive_and_push(request, user, name, service, description, "", model_name)


@router.post(
    "/services/{service_id}/switch",
    response_model=OutcomeOut,
    responses={502: {"model": OutcomeOut, "description": "the service refused the switch"}},
)
async def switch(
    request: Request, user: User, service_id: Id, body: SwitchIn, model_name: ModelNameQuery = ""
) -> Any:
    """Make the stored file ``model`` serve (as the service's model ``model_name``)."""
    require(user, edit=True)
    row = queries.service(state(request).db, service_id)
    _confirm(row, body.confirm)
    key = repository.model_key(row, model_name)
    db = state(request).db
    outcome = await in_thread(operations.switch, db, user.name, row.id, body.model, key)
    state(request).board.forget(row.id)
    return _outcome(outcome)


@router.post(
    "/levels/switch",
    response_model=list[OutcomeOut],
    responses={502: {"model": list[OutcomeOut], "description": "a service refused"}},
)
async def switch_level(request: Request, user: User, body: LevelSwitchIn) -> Any:
    require(user, edit=True)
    db = state(request).db
    rows = queries.services_of_level(db, body.application, body.level)
    if not rows:
        raise Refused(f"no {body.level} services of {body.application}", 404)
    for row in rows:
        _confirm(row, body.confirm)
    outcomes = await asyncio.gather(
        *(in_thread(operations.switch, db, user.name, r.id, body.model) for r in rows)
    )
    for row in rows:
        state(request).board.forget(row.id)
    content = [OutcomeOut(**attrs.asdict(o)).model_dump() for o in outcomes]
    return JSONResponse(content, 200 if all(o.ok for o in outcomes) else 502)


@router.post(
    "/services/{service_id}/rollback",
    response_model=OutcomeOut,
    responses={502: {"model": OutcomeOut, "description": "the service refused the switch"}},
)
async def rollback(
    request: Request, user: User, service_id: Id, model_name: ModelNameQuery = ""
) -> Any:
    require(user, edit=True)
    row = queries.service(state(request).db, service_id)
    key = repository.model_key(row, model_name)
    outcome = await in_thread(operations.rollback, state(request).db, user.name, row.id, key)
    state(request).board.forget(row.id)
    return _outcome(outcome)


@router.get("/services/{service_id}/switches", response_model=list[SwitchOut])
async def switches(
    request: Request, user: User, service_id: Id, model_name: ModelNameQuery = ""
) -> list[SwitchOut]:
    """The dashboard's switches of the service's model (its default model by default)."""
    row = queries.service(state(request).db, service_id)
    key = repository.model_key(row, model_name)
    return [
        SwitchOut.model_validate(s, from_attributes=True)
        for s in queries.history(state(request).db, service_id, key)
    ]


@router.get(
    "/services/{service_id}/manifests",
    response_class=PlainTextResponse,
    responses=TEXT_ROUTE_ERRORS,
)
async def manifests(request: Request, user: User, service_id: Id) -> str:
    """The Kubernetes manifests kept for the service (``drucker bundle k8s`` output)."""
    return queries.service(state(request).db, service_id).k8s_manifests


@router.put("/services/{service_id}/manifests", status_code=204, openapi_extra=YAML_BODY)
async def set_manifests(request: Request, user: User, service_id: Id) -> None:
    """Keep Kubernetes manifests (YAML, e.g. ``drucker bundle k8s`` output) for a service."""
    require(user, admin=True)
    body = await request.body()
    if len(body) > MAX_MANIFESTS:
        raise Refused("manifests are at most 4 MiB")
    text = body.decode("utf-8", errors="replace")
    await in_thread(operations.set_manifests, state(request).db, user.name, service_id, text)
