"""The overview and the service pages: register, switch (one or a level), roll back, manifests."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from starlette.responses import Response

import drucker.dashboard.operations as operations
import drucker.dashboard.queries as queries
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import ConnectionIn, LevelSwitchIn, ServiceIn, SwitchIn, validated
from drucker.dashboard.models import LEVELS, Service
from drucker.dashboard.pages.common import (
    OVERVIEW_WAIT,
    Checked,
    Id,
    SignedIn,
    back,
    form_fields,
    render,
)
from drucker.dashboard.pages.service_models import service_view
from drucker.dashboard.web import State, in_thread, require, state

router = APIRouter()

# -- overview ---------------------------------------------------------------------------------


async def overview_groups(app_state: State, wait: float) -> list[dict[str, Any]]:
    """Services grouped by application, then level, each with its status."""
    services = queries.services(app_state.db)
    statuses = await app_state.board.statuses(map(Endpoint.of, services), wait)
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for service in services:
        levels = groups.setdefault(service.application, {})
        levels.setdefault(service.level, []).append(
            {"service": service, "status": statuses.get(service.id)}
        )
    return [
        {
            "application": application,
            "levels": [(level, levels[level]) for level in LEVELS if level in levels],
        }
        for application, levels in sorted(groups.items())
    ]


@router.get("/")
async def overview(request: Request, user: SignedIn) -> HTMLResponse:
    groups = await overview_groups(state(request), OVERVIEW_WAIT)
    return render(request, "overview.html", user=user, groups=groups)


@router.get("/fragments/overview")
async def overview_fragment(request: Request, user: SignedIn) -> HTMLResponse:
    groups = await overview_groups(state(request), OVERVIEW_WAIT)
    return render(request, "_overview_table.html", user=user, groups=groups)


# -- services ---------------------------------------------------------------------------------


@router.post("/services", response_model=None)
async def register(request: Request, user: Checked) -> Response:
    """Register a service: the form is checked by the API's rules (:class:`ServiceIn`)."""
    require(user, admin=True)
    fields = {key: value.strip() for key, value in (await form_fields(request)).items()}
    try:
        given = validated(ServiceIn, fields)
        service = await in_thread(operations.register_service, state(request).db, user.name, given)
    except Refused as error:
        return back("/", error=error.message)
    state(request).board.watch([Endpoint.of(service)])
    return back(f"/services/{service.id}", message=f"registered {service.address}")


@router.get("/services/{service_id}")
async def service_page(request: Request, user: SignedIn, service_id: Id) -> HTMLResponse:
    """The service, its default model's files and history, and its other models (if any)."""
    service = queries.service(state(request).db, service_id)
    return await service_view(request, user, service, "")


@router.post("/services/{service_id}/connection", response_model=None)
async def edit(request: Request, user: Checked, service_id: Id) -> Response:
    """Change how the service is reached: the form is checked by the API's rules."""
    require(user, admin=True)
    app_state = state(request)
    fields = {key: value.strip() for key, value in (await form_fields(request)).items()}
    here = f"/services/{service_id}"
    try:
        given = validated(ConnectionIn, fields)
        service = await in_thread(
            operations.edit_service, app_state.db, user.name, service_id, given
        )
    except Refused as error:
        return back(here, error=error.message)
    app_state.board.forget(service_id)
    app_state.board.watch([Endpoint.of(service)])
    return back(here, message="connection saved")


@router.post("/services/{service_id}/delete")
async def remove(request: Request, user: Checked, service_id: Id) -> RedirectResponse:
    require(user, admin=True)
    await in_thread(operations.remove_service, state(request).db, user.name, service_id)
    state(request).board.forget(service_id)
    return back("/", message="service removed")


@router.post("/services/{service_id}/manifests")
async def manifests(
    request: Request,
    user: Checked,
    service_id: Id,
    text: Annotated[str, Form()] = "",
    file: UploadFile | None = None,
) -> RedirectResponse:
    require(user, admin=True)
    if file is not None and file.filename:
        text = (await file.read(4 * 1024 * 1024)).decode("utf-8", errors="replace")
    try:
        await in_thread(operations.set_manifests, state(request).db, user.name, service_id, text)
    except Refused as error:
        return back(f"/services/{service_id}", error=error.message)
    return back(f"/services/{service_id}", message="manifests saved")


@router.get("/services/{service_id}/manifests.yaml")
async def manifests_download(request: Request, user: SignedIn, service_id: Id) -> PlainTextResponse:
    service = queries.service(state(request).db, service_id)
    name = f"{service.service_name or 'service'}-k8s.yaml"
    return PlainTextResponse(
        service.k8s_manifests,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _is_production(service: Service) -> bool:
    return service.level == "production"


@router.post("/services/{service_id}/switch")
async def switch(request: Request, user: Checked, service_id: Id) -> Response:
    """Switch one service's model (production asks to confirm)."""
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    fields = await form_fields(request)
    confirm = fields.pop("confirm", "")  # the application's name, typed again
    try:
        model = validated(SwitchIn, fields).model
    except Refused as error:
        return back(f"/services/{service_id}", error=error.message)
    if _is_production(service) and confirm != service.application:
        return render(
            request,
            "confirm.html",
            user=user,
            action=f"/services/{service_id}/switch",
            fields={"model": model},
            what=f"switch {service.address} ({service.application}, production) to {model}",
            application=service.application,
        )
    outcome = await in_thread(operations.switch, app_state.db, user.name, service_id, model)
    await app_state.board.refresh(Endpoint.of(service))
    if outcome.ok:
        return back(f"/services/{service_id}", message=f"now serving {model}")
    return back(f"/services/{service_id}", error=outcome.message)


@router.post("/services/{service_id}/rollback")
async def rollback(request: Request, user: Checked, service_id: Id) -> Response:
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    try:
        outcome = await in_thread(operations.rollback, app_state.db, user.name, service_id)
    except Refused as error:
        return back(f"/services/{service_id}", error=error.message)
    await app_state.board.refresh(Endpoint.of(service))
    if outcome.ok:
        return back(f"/services/{service_id}", message="rolled back")
    return back(f"/services/{service_id}", error=outcome.message)


@router.post("/levels/switch")
async def switch_level(request: Request, user: Checked) -> Response:
    """Switch every service of one application at one level (production asks to confirm)."""
    require(user, edit=True)
    app_state = state(request)
    fields = await form_fields(request)
    confirm = fields.pop("confirm", "")  # the application's name, typed again
    try:
        given = validated(LevelSwitchIn, fields)
    except Refused as error:
        return back("/", error=error.message)
    application, level, model = given.application, given.level, given.model
    services = queries.services_of_level(app_state.db, application, level)
    if not services:
        return back("/", error=f"no {level} services of {application}")
    if level == "production" and confirm != application:
        return render(
            request,
            "confirm.html",
            user=user,
            action="/levels/switch",
            fields={"application": application, "level": level, "model": model},
            what=f"switch all {len(services)} production services of {application} to {model}",
            application=application,
        )
    outcomes = await asyncio.gather(
        *(in_thread(operations.switch, app_state.db, user.name, s.id, model) for s in services)
    )
    for service in services:
        app_state.board.forget(service.id)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        return back("/", error="; ".join(f"{o.address}: {o.message}" for o in failed))
    return back("/", message=f"{len(outcomes)} {level} services of {application} serve {model}")
