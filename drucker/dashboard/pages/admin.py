"""The audit log, users and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

import drucker.dashboard.accounts as accounts
import drucker.dashboard.audit as audit
import drucker.dashboard.queries as queries
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import UserIn, validated
from drucker.dashboard.pages.common import Checked, SignedIn, back, form_fields, render
from drucker.dashboard.web import Viewer, in_thread, require, state

router = APIRouter()

# -- audit, users, tokens ---------------------------------------------------------------------


@router.get("/audit")
async def audit_page(
    request: Request, user: SignedIn, application: str = "", who: str = ""
) -> HTMLResponse:
    db = state(request).db
    rows = queries.audit_entries(db, application=application or None, user=who or None)
    users = [u.name for u in queries.users(db)]
    applications = sorted({s.application for s in queries.services(db)})
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
    users = [Viewer.of(u) for u in queries.users(state(request).db)]
    return render(request, "users.html", user=user, users=users)


@router.post("/users")
async def add_user(request: Request, user: Checked) -> RedirectResponse:
    """Add a user: the form is checked by the API's rules (:class:`UserIn`)."""
    require(user, admin=True)
    try:
        given = validated(UserIn, await form_fields(request))
        role = given.role.value
        with state(request).db.session() as session:
            await in_thread(accounts.create_user, session, given.name, role, given.password)
            audit.record(session, user.name, "add user", target=given.name, after=role)
    except Refused as error:
        return back("/users", error=error.message)
    return back("/users", message=f"user {given.name} added")


@router.get("/account")
async def account_page(request: Request, user: SignedIn) -> HTMLResponse:
    token = request.session.pop("new_token", "")
    return render(request, "account.html", user=user, new_token=token)


@router.post("/account/tokens")
async def new_token(
    request: Request, user: Checked, name: Annotated[str, Form()] = "token"
) -> RedirectResponse:
    with state(request).db.session() as session:
        token = accounts.issue_token(session, user.id, name)
        audit.record(session, user.name, "api token", target=user.name, after=name)
    request.session["new_token"] = token
    return RedirectResponse("/account", status_code=303)
