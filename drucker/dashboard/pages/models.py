"""The model upload page and its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

import drucker.dashboard.queries as queries
import drucker.dashboard.uploads as uploads
from drucker.dashboard.pages.common import Checked, SignedIn, render
from drucker.dashboard.web import require, state

router = APIRouter()

# -- models -----------------------------------------------------------------------------------


@router.get("/models")
async def models_page(request: Request, user: SignedIn) -> HTMLResponse:
    services = queries.services(state(request).db)
    applications = sorted({s.application for s in services})
    return render(request, "models.html", user=user, services=services, applications=applications)


@router.put("/models/upload")
async def upload(
    request: Request,
    user: Checked,
    name: str,
    service: Annotated[list[int] | None, Query()] = None,
    description: str = "",
    job: str = "",
) -> JSONResponse:
    """The browser streams the file as the request body; it goes on to every chosen service."""
    require(user, edit=True)
    return await uploads.receive_and_push(request, user, name, service or [], description, job)


@router.get("/uploads/{job}")
async def upload_progress(request: Request, user: SignedIn, job: str) -> JSONResponse:
    progress = state(request).uploads.get(job)
    if progress is None:
        return JSONResponse({"detail": "no such upload"}, 404)
    return JSONResponse(progress.as_dict())
