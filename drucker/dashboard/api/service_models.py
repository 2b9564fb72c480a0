"""The API's models of a service on a server of several: the repository index, load, unload.

Uploads, switches, rollbacks, histories and evaluations act on one model with their
``model_name`` query parameter (see :mod:`drucker.dashboard.api.services`)."""

from __future__ import annotations

from typing import Any

import attrs
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

import drucker.dashboard.queries as queries
import drucker.dashboard.repository as repository
from drucker.dashboard.api.auth import User
from drucker.dashboard.api.schemas import Id, ModelName, OutcomeOut, RepositoryModelOut
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()
FAILED: dict[int | str, dict[str, Any]] = {
    502: {"model": OutcomeOut, "description": "the service failed to do it"}
}


@router.get("/services/{service_id}/repository", response_model=list[RepositoryModelOut])
async def index(request: Request, user: User, service_id: Id) -> list[RepositoryModelOut]:
    """Every model of the service with its state and serving version."""
    row = queries.service(state(request).db, service_id)
    rows = await repository.index(Endpoint.of(row), state(request).settings.status_timeout)
    return [RepositoryModelOut(**attrs.asdict(model)) for model in rows]


@router.post(
    "/services/{service_id}/repository/{model}/load", response_model=OutcomeOut, responses=FAILED
)
async def load(request: Request, user: User, service_id: Id, model: ModelName) -> Any:
    """Load (or reload) a stored model of the service (editors; audited)."""
    return await _change(request, user, service_id, model, repository.load)


@router.post(
    "/services/{service_id}/repository/{model}/unload", response_model=OutcomeOut, responses=FAILED
)
async def unload(request: Request, user: User, service_id: Id, model: ModelName) -> Any:
    """Stop serving a model of the service (editors; audited)."""
    return await _change(request, user, service_id, model, repository.unload)


async def _change(request: Request, user: Any, service_id: int, model: str, change: Any) -> Any:
    require(user, edit=True)
    queries.service(state(request).db, service_id)
    outcome = await in_thread(change, state(request).db, user.name, service_id, model)
    state(request).board.forget(service_id)
    body = OutcomeOut(**attrs.asdict(outcome)).model_dump()
    return JSONResponse(body, 200 if outcome.ok else 502)
