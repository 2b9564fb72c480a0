"""Two versions of a model compared on the data set of a kept evaluation."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

import drucker.dashboard.queries as queries
import drucker.dashboard.versioncompare as versioncompare
from drucker.client import ClientError
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.pages.common import Checked, Id, SignedIn, back, form_fields, render
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()


@router.get("/evaluations/{evaluation_id}/versions")
async def versions_page(request: Request, user: SignedIn, evaluation_id: Id) -> HTMLResponse:
    """The form: the model and its two versions (the service's stored ones offered)."""
    app_state = state(request)
    base = queries.evaluation(app_state.db, evaluation_id)
    names: list[str] = []
    error = ""
    if base.service_id is not None:
        service = queries.service(app_state.db, base.service_id)
        wait = app_state.settings.status_timeout
        try:
            endpoint = Endpoint.of(service)
            async with endpoint.for_model(base.application).async_client(wait) as client:
                stored, _ = await asyncio.wait_for(client.list_models(), wait)
            names = [model.name for model in stored]
        except (ClientError, TimeoutError) as failure:
            error = str(failure) or "no answer in time"
    else:
        error = "the service of this evaluation is no longer registered"
    return render(request, "versions.html", user=user, base=base, names=names, error=error)


@router.post("/evaluations/{evaluation_id}/versions")
async def compare_versions(request: Request, user: Checked, evaluation_id: Id) -> Response:
    """Evaluate both versions on the evaluation's data, then show the comparison."""
    require(user, edit=True)
    app_state = state(request)
    base = queries.evaluation(app_state.db, evaluation_id)
    fields: dict[str, Any] = await form_fields(request)
    here = f"/evaluations/{evaluation_id}/versions"
    model = fields.get("model", "") or base.application
    a, b = fields.get("a", ""), fields.get("b", "")
    if not a or not b:
        return back(here, error="choose two versions")
    if a == b:
        return back(here, error=f"choose two different versions (both are {a})")
    try:
        first, second = await in_thread(
            versioncompare.compare_versions, app_state.db, user.name, base.id, model, (a, b)
        )
    except Refused as refused:
        return back(here, error=refused.message)
    return back(f"/evaluations/compare?a={first.id}&b={second.id}")
