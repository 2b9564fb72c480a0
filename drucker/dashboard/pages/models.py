"""The model upload page and its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

import drucker.dashboard.queries as queries
import drucker.dashboard.uploads as uploads
from drucker.dashboard.inputs import NAME_PATTERN
from drucker.dashboard.pages.common import Checked, SignedIn, render
from drucker.dashboard.web import require, state

router = APIRouter()

# -- models -----------------------------------------------------------------------------------


@router.get("/models")
async def models_page(
    request: Request,
    user: SignedIn,
    service: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    model_name: Annotated[str, Query(pattern=NAME_PATTERN, max_length=128)] = "",
) -> HTMLResponse:
    """The upload form (for ``service``'s model ``model_name`` when given) and level switches."""
    services = queries.services(state(request).db)
    applications = sorted({s.application for s in services})
    return render(
        request,
        "models.html",
        user=user,
        services=services,
        applications=applications,
        chosen=service,
        model_name=model_name,
    )


@router.put("/models/upload")
async def upload(
    request: Request,
    user: Checked,
    name: str,
    service: Annotated[list[int] | None, Query()] = None,
    description: str = "",
    job: str = "",
    model_name: str = "",
) -> JSONResponse:
    """The browser streams the file as the request body; it goes on to every chosen service
    (into the store of their model ``model_name`` on servers of several models)."""
    require(user, edit=True)
    return await uploads.receive_and_push(
        request, user, name, service or [], description, job, model_name
    )


@router.post("/uploads")
async def new_upload(request: Request, user: Checked) -> JSONResponse:
    """A progress id for the next upload, chosen here and readable by this user only."""
    require(user, edit=True)
    return JSONResponse({"job": uploads.issue_job(state(request), user)}, 201)


@router.get("/uploads/{job}")
async def upload_progress(request: Request, user: SignedIn, job: str) -> JSONResponse:
    progress = uploads.progress_of(state(request), user, job)
    if progress is None:
        return JSONResponse({"detail": "no such upload"}, 404)
    return JSONResponse(progress.as_dict())
