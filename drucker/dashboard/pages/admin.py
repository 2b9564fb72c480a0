"""The audit log, users and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from drucker.dashboard import accounts, audit
from drucker.dashboard.models import User
from drucker.dashboard.pages.common import (
    Checked,
    SignedIn,
    back,
    render,
)
from drucker.dashboard.web import (
    Viewer,
    fetch_services,
    in_thread,
    require,
    state,
)

router = APIRouter()

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
