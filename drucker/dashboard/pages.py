"""The HTML pages: server-rendered templates, signed session cookies, CSRF on every change."""

from __future__ import annotations

import asyncio
import pathlib
import tempfile
import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from sqlalchemy import select
from starlette.responses import Response

from drucker.client import ClientError
from drucker.dashboard import accounts, audit, charts, evaluations, operations, security, uploads
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.models import LEVELS, Evaluation, Service, User
from drucker.dashboard.web import (
    Denied,
    State,
    Viewer,
    fetch_services,
    format_time,
    in_thread,
    require,
    state,
)

router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
OVERVIEW_WAIT = 0.1  # seconds a page waits for fresh status before showing what it has
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


# -- sessions ---------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = security.new_csrf_token()
    return str(token)


async def viewer(request: Request) -> Viewer:
    """The signed-in user. :raises Denied: (401) when nobody is signed in."""
    user_id = request.session.get("uid")
    if user_id is not None:
        with state(request).db.session() as session:
            user = session.get(User, user_id)
            if user is not None and request.session.get("pw") == user.password_hash[-16:]:
                return Viewer.of(user)
    request.session.pop("uid", None)
    raise Denied("sign in first", 401)


SignedIn = Annotated[Viewer, Depends(viewer)]


async def checked(request: Request, user: SignedIn) -> Viewer:
    """A signed-in user whose change request carries the session's CSRF token."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    if not security.same_token(request.session.get("csrf"), given):
        raise Denied("the form is out of date or forged (CSRF token missing or wrong)")
    return user


Checked = Annotated[Viewer, Depends(checked)]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", None)
    return state(request).templates.TemplateResponse(
        request,
        template,
        {"csrf_token": csrf_token(request), "levels": LEVELS, "when": format_time, **context},
        status_code=status_code,
    )


def back(url: str, message: str = "", error: str = "") -> RedirectResponse:
    query = urllib.parse.urlencode({k: v for k, v in (("msg", message), ("err", error)) if v})
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=next if next.startswith("/") else "/")


@router.post("/login", response_model=None)
async def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    csrf_token_: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    if not security.same_token(request.session.get("csrf"), csrf_token_):
        raise Denied("the form is out of date or forged (CSRF token missing or wrong)")
    app_state = state(request)
    client = request.client.host if request.client else "?"
    wait = app_state.limiter.retry_after(name, client)
    if wait > 0:
        response = render(
            request, "login.html", 429, next=next, error="Too many attempts; try again later."
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    with app_state.db.session() as session:
        user = await in_thread(accounts.authenticate, session, name, password)
        known = Viewer.of(user) if user is not None else None
        password_mark = user.password_hash[-16:] if user is not None else ""
    if known is None:
        app_state.limiter.failed(name, client)
        return render(request, "login.html", 401, next=next, error="Wrong name or password.")
    app_state.limiter.succeeded(name, client)
    request.session.clear()
    request.session.update(uid=known.id, pw=password_mark, csrf=security.new_csrf_token())
    return RedirectResponse(next if next.startswith("/") else "/", status_code=303)


@router.post("/logout")
async def logout(request: Request, user: Checked) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# -- overview ---------------------------------------------------------------------------------


async def overview_groups(app_state: State, wait: float) -> list[dict[str, Any]]:
    """Services grouped by application, then level, each with its status."""
    services = fetch_services(app_state)
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
async def register(
    request: Request,
    user: Checked,
    address: Annotated[str, Form()],
    token: Annotated[str, Form()] = "",
    tls_ca: Annotated[str, Form()] = "",
    metrics_url: Annotated[str, Form()] = "",
) -> Response:
    require(user, admin=True)
    try:
        service = await in_thread(
            operations.register_service,
            state(request).db,
            user.name,
            address,
            token=token.strip(),
            tls_ca=tls_ca.strip(),
            metrics_url=metrics_url.strip(),
        )
    except operations.OperationError as error:
        return back("/", error=error.message)
    state(request).board.watch([Endpoint.of(service)])
    return back(f"/services/{service.id}", message=f"registered {service.address}")


def _service_or_404(app_state: State, service_id: Id) -> Service:
    with app_state.db.session() as session:
        service = session.get(Service, service_id)
        if service is None:
            raise Denied(f"no service {service_id}", 404)
        session.expunge(service)
        return service


@router.get("/services/{service_id}")
async def service_page(request: Request, user: SignedIn, service_id: Id) -> HTMLResponse:
    app_state = state(request)
    service = _service_or_404(app_state, service_id)
    endpoint = Endpoint.of(service)
    status = (await app_state.board.statuses([endpoint], OVERVIEW_WAIT))[service.id]
    models: list[Any] = []
    models_error = ""
    try:
        async with endpoint.async_client(app_state.settings.status_timeout) as client:
            stored, _ = await asyncio.wait_for(
                client.list_models(), app_state.settings.status_timeout
            )
            models = stored
    except (ClientError, TimeoutError) as error:
        models_error = str(error) or "no answer in time"
    switches = operations.history(app_state.db, service.id)
    return render(
        request,
        "service.html",
        user=user,
        service=service,
        status=status,
        models=models,
        models_error=models_error,
        notes=operations.notes(app_state.db, service.application),
        switches=switches,
        rollback_to=operations.rollback_target(switches),
    )


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
    except operations.OperationError as error:
        return back(f"/services/{service_id}", error=error.message)
    return back(f"/services/{service_id}", message="manifests saved")


@router.get("/services/{service_id}/manifests.yaml")
async def manifests_download(request: Request, user: SignedIn, service_id: Id) -> PlainTextResponse:
    service = _service_or_404(state(request), service_id)
    name = f"{service.service_name or 'service'}-k8s.yaml"
    return PlainTextResponse(
        service.k8s_manifests,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _is_production(service: Service) -> bool:
    return service.level == "production"


@router.post("/services/{service_id}/switch")
async def switch(
    request: Request,
    user: Checked,
    service_id: Id,
    model: Annotated[str, Form()],
    confirm: Annotated[str, Form()] = "",
) -> Response:
    require(user, edit=True)
    app_state = state(request)
    service = _service_or_404(app_state, service_id)
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
    service = _service_or_404(app_state, service_id)
    try:
        outcome = await in_thread(operations.rollback, app_state.db, user.name, service_id)
    except operations.OperationError as error:
        return back(f"/services/{service_id}", error=error.message)
    await app_state.board.refresh(Endpoint.of(service))
    if outcome.ok:
        return back(f"/services/{service_id}", message="rolled back")
    return back(f"/services/{service_id}", error=outcome.message)


@router.post("/levels/switch")
async def switch_level(
    request: Request,
    user: Checked,
    application: Annotated[str, Form()],
    level: Annotated[str, Form()],
    model: Annotated[str, Form()],
    confirm: Annotated[str, Form()] = "",
) -> Response:
    require(user, edit=True)
    app_state = state(request)
    services = operations.services_of_level(app_state.db, application, level)
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


# -- models -----------------------------------------------------------------------------------


@router.get("/models")
async def models_page(request: Request, user: SignedIn) -> HTMLResponse:
    services = fetch_services(state(request))
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


# -- evaluations ------------------------------------------------------------------------------


def _evaluation(app_state: State, evaluation_id: Id) -> Evaluation:
    with app_state.db.session() as session:
        row = session.get(Evaluation, evaluation_id)
        if row is None:
            raise Denied(f"no evaluation {evaluation_id}", 404)
        session.expunge(row)
        return row


@router.get("/evaluations")
async def evaluations_page(request: Request, user: SignedIn) -> HTMLResponse:
    app_state = state(request)
    with app_state.db.session() as session:
        rows = list(session.scalars(select(Evaluation).order_by(Evaluation.id.desc())))
        for row in rows:
            session.expunge(row)
    return render(
        request, "evaluations.html", user=user, rows=rows, services=fetch_services(app_state)
    )


@router.post("/evaluations")
async def evaluate(
    request: Request,
    user: Checked,
    service_id: Annotated[int, Form()],
    file: Annotated[UploadFile, Form()],
) -> Response:
    require(user, edit=True)
    app_state = state(request)
    _service_or_404(app_state, service_id)
    name = (file.filename or "data").rsplit("/", 1)[-1] or "data"
    with tempfile.NamedTemporaryFile(dir=app_state.upload_dir, prefix="data-") as handle:
        while chunk := await file.read(1024 * 1024):
            handle.write(chunk)
        handle.flush()
        try:
            row = await in_thread(
                operations.evaluate,
                app_state.db,
                user.name,
                service_id,
                pathlib.Path(handle.name),
                name,
            )
        except operations.OperationError as error:
            return back("/evaluations", error=error.message)
    return back(f"/evaluations/{row.id}", message="evaluated")


@router.get("/evaluations/compare")
async def compare_page(
    request: Request,
    user: SignedIn,
    a: Annotated[int, Query(ge=1, le=2**31 - 1)],
    b: Annotated[int, Query(ge=1, le=2**31 - 1)],
) -> HTMLResponse:
    app_state = state(request)
    first, second = _evaluation(app_state, a), _evaluation(app_state, b)
    rows = evaluations.compare(
        evaluations.per_class(first.labels, first.precision, first.recall, first.f1),
        evaluations.per_class(second.labels, second.precision, second.recall, second.f1),
    )
    labels = [row.label for row in rows]
    chart = charts.bar_chart(
        labels,
        {
            f"F1 #{first.id}": [row.a[2] if row.a else 0.0 for row in rows],
            f"F1 #{second.id}": [row.b[2] if row.b else 0.0 for row in rows],
        },
    )
    return render(request, "compare.html", user=user, a=first, b=second, rows=rows, chart=chart)


@router.get("/evaluations/{evaluation_id}")
async def evaluation_page(request: Request, user: SignedIn, evaluation_id: Id) -> HTMLResponse:
    row = _evaluation(state(request), evaluation_id)
    chart = charts.bar_chart(
        row.labels, {"precision": row.precision, "recall": row.recall, "F1": row.f1}
    )
    heat = charts.heat_map(row.labels, row.confusion)
    with state(request).db.session() as session:
        others = [
            (e.id, e.data_name, e.model_name)
            for e in session.scalars(
                select(Evaluation)
                .where(Evaluation.application == row.application, Evaluation.id != row.id)
                .order_by(Evaluation.id.desc())
            )
        ]
    return render(
        request, "evaluation.html", user=user, row=row, chart=chart, heat=heat, others=others
    )


@router.get("/evaluations/{evaluation_id}/details.csv")
async def evaluation_csv(request: Request, user: SignedIn, evaluation_id: Id) -> PlainTextResponse:
    row = _evaluation(state(request), evaluation_id)
    return PlainTextResponse(
        row.details_csv,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="evaluation-{row.id}.csv"'},
    )


# -- audit, users, tokens ---------------------------------------------------------------------


@router.get("/audit")
async def audit_page(
    request: Request, user: SignedIn, application: str = "", who: str = ""
) -> HTMLResponse:
    with state(request).db.session() as session:
        rows = audit.entries(session, application=application or None, user=who or None)
        for row in rows:
            session.expunge(row)
        users = [u.name for u in accounts.list_users(session)]
    applications = sorted({s.application for s in fetch_services(state(request))})
    return render(
        request,
        "audit.html",
        user=user,
        rows=rows,
        application=application,
        who=who,
        users=users,
        applications=applications,
    )


@router.get("/users")
async def users_page(request: Request, user: SignedIn) -> HTMLResponse:
    require(user, admin=True)
    with state(request).db.session() as session:
        users = [Viewer.of(u) for u in accounts.list_users(session)]
    return render(request, "users.html", user=user, users=users)


@router.post("/users")
async def add_user(
    request: Request,
    user: Checked,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> RedirectResponse:
    require(user, admin=True)
    with state(request).db.session() as session:
        try:
            await in_thread(accounts.create_user, session, name, role, password)
        except accounts.AccountError as error:
            return back("/users", error=str(error))
        audit.record(session, user.name, "add user", target=name, after=role)
    return back("/users", message=f"user {name} added")


@router.get("/account")
async def account_page(request: Request, user: SignedIn) -> HTMLResponse:
    token = request.session.pop("new_token", "")
    return render(request, "account.html", user=user, new_token=token)


@router.post("/account/tokens")
async def new_token(
    request: Request, user: Checked, name: Annotated[str, Form()] = "token"
) -> RedirectResponse:
    with state(request).db.session() as session:
        owner = session.get(User, user.id)
        assert owner is not None
        token = accounts.issue_token(session, owner, name)
        audit.record(session, user.name, "api token", target=user.name, after=name)
    request.session["new_token"] = token
    return RedirectResponse("/account", status_code=303)
