"""A service's page, and on a server of several models one page per model: its stored files,
switch, roll back, history; load and unload from the service's list of models (editors)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

import drucker.dashboard.operations as operations
import drucker.dashboard.queries as queries
import drucker.dashboard.repository as repository
from drucker.client import ClientError, RepositoryModel
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.history import merged_history, rollback_target
from drucker.dashboard.inputs import NAME_PATTERN, SwitchIn, validated
from drucker.dashboard.models import Service
from drucker.dashboard.pages.common import (
    OVERVIEW_WAIT,
    Checked,
    Id,
    SignedIn,
    back,
    form_fields,
    render,
)
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()
ModelName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128)]


def page_of(service_id: int, model: str) -> str:
    """The page of a service's model (the service's page for its default model)."""
    return f"/services/{service_id}/models/{model}" if model else f"/services/{service_id}"


async def _repository_rows(endpoint: Endpoint, wait: float) -> tuple[list[RepositoryModel], str]:
    """The service's models and, when it cannot say, why (an older server: none listed)."""
    try:
        return await repository.index(endpoint, wait), ""
    except Refused as refused:
        return [], refused.message


async def service_view(request: Request, user: Any, service: Service, model: str) -> HTMLResponse:
    """The page of ``service``, or of its model ``model`` (``""``: the default model)."""
    app_state = state(request)
    endpoint = Endpoint.of(service)
    status = (await app_state.board.statuses([endpoint], OVERVIEW_WAIT))[service.id]
    wait = app_state.settings.status_timeout
    models: list[Any] = []
    models_error = ""
    service_history: list[Any] = []
    serving = ""
    try:
        async with Endpoint.of(service, model).async_client(wait) as client:
            models, serving = await asyncio.wait_for(client.list_models(), wait)
            service_history = await asyncio.wait_for(client.model_history(), wait)
    except (ClientError, TimeoutError) as error:
        models_error = str(error) or "no answer in time"
    rows, rows_error = await _repository_rows(endpoint, wait)
    several = any(row.name != service.application for row in rows)
    switches = merged_history(service_history, queries.history(app_state.db, service.id, model))
    return render(
        request,
        "service.html",
        user=user,
        service=service,
        status=status,
        model=model,
        here=page_of(service.id, model),
        serving=serving,
        models=models,
        models_error=models_error,
        repository=rows if several or model else [],
        repository_error=rows_error if model else "",
        notes=queries.notes(app_state.db, model or service.application),
        switches=switches,
        rollback_to=rollback_target(switches),
    )


@router.get("/services/{service_id}/models/{model}")
async def model_page(
    request: Request, user: SignedIn, service_id: Id, model: ModelName
) -> HTMLResponse:
    service = queries.service(state(request).db, service_id)
    return await service_view(request, user, service, repository.model_key(service, model))


@router.post("/services/{service_id}/models/{model}/switch")
async def switch(request: Request, user: Checked, service_id: Id, model: ModelName) -> Response:
    """Switch the stored file one model of the service serves (production asks to confirm)."""
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    key = repository.model_key(service, model)
    here = page_of(service_id, key)
    fields = await form_fields(request)
    confirm = fields.pop("confirm", "")
    try:
        stored = validated(SwitchIn, fields).model
    except Refused as error:
        return back(here, error=error.message)
    if service.level == "production" and confirm != service.application:
        return render(
            request,
            "confirm.html",
            user=user,
            action=f"{here}/switch" if key else f"/services/{service_id}/switch",
            fields={"model": stored},
            what=f"switch model {model} of {service.address} (production) to {stored}",
            application=service.application,
        )
    outcome = await in_thread(operations.switch, app_state.db, user.name, service_id, stored, key)
    await app_state.board.refresh(Endpoint.of(service))
    if outcome.ok:
        return back(here, message=f"{model} now serves {stored}")
    return back(here, error=outcome.message)


@router.post("/services/{service_id}/models/{model}/rollback")
async def rollback(request: Request, user: Checked, service_id: Id, model: ModelName) -> Response:
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    key = repository.model_key(service, model)
    here = page_of(service_id, key)
    try:
        outcome = await in_thread(operations.rollback, app_state.db, user.name, service_id, key)
    except Refused as error:
        return back(here, error=error.message)
    await app_state.board.refresh(Endpoint.of(service))
    if outcome.ok:
        return back(here, message=f"{model} rolled back")
    return back(here, error=outcome.message)


@router.post("/services/{service_id}/models/{model}/load")
async def load(request: Request, user: Checked, service_id: Id, model: ModelName) -> Response:
    """Load (or reload) one stored model of the service (editors)."""
    return await _repository_change(request, user, service_id, model, repository.load)


@router.post("/services/{service_id}/models/{model}/unload")
async def unload(request: Request, user: Checked, service_id: Id, model: ModelName) -> Response:
    """Stop serving one model of the service (editors)."""
    return await _repository_change(request, user, service_id, model, repository.unload)


async def _repository_change(
    request: Request, user: Any, service_id: int, model: str, change: Any
) -> Response:
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    here = f"/services/{service_id}"
    try:
        outcome = await in_thread(change, app_state.db, user.name, service_id, model)
    except Refused as error:
        return back(here, error=error.message)
    await app_state.board.refresh(Endpoint.of(service))
    if outcome.ok:
        return back(here, message=outcome.message)
    return back(here, error=outcome.message)
