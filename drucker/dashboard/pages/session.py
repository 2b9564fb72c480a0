"""Signing in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

import drucker.dashboard.accounts as accounts
import drucker.dashboard.security as security
from drucker.dashboard.errors import Refused
from drucker.dashboard.pages.common import CSRF_FIELD, FORGED, Checked, render
from drucker.dashboard.web import in_thread, state

router = APIRouter()


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=security.same_site_path(next))


@router.post("/login", response_model=None)
async def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    csrf_token_: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    if not security.same_token(request.session.get("csrf"), csrf_token_):
        raise Refused(FORGED, 403)
    app_state = state(request)
    client = security.client_address(
        request.client.host if request.client else None,
        request.headers,
        app_state.settings.client_address_header,
    )
    next = security.same_site_path(next)
    async with app_state.limiter.turn(name, client):
        with app_state.db.session() as session:
            user = await in_thread(accounts.authenticate, session, name, password)
            if user is None:
                app_state.limiter.failed(name, client)
                wrong = "Wrong name or password."
                return render(request, "login.html", 401, next=next, error=wrong)
            sid = accounts.open_session(session, user.id, security.SESSION_SECONDS)
            password_mark = user.password_hash[-16:]
    app_state.limiter.succeeded(name, client)
    request.session.clear()
    request.session.update(sid=sid, pw=password_mark, csrf=security.new_csrf_token())
    return RedirectResponse(next, status_code=303)


@router.post("/logout")
async def logout(request: Request, user: Checked) -> RedirectResponse:
    sid = request.session.get("sid")
    if isinstance(sid, str):
        with state(request).db.session() as session:
            accounts.close_session(session, sid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
