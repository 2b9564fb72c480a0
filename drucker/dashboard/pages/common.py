"""What every page needs: who is signed in, the CSRF check, rendering, redirects."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

import drucker.dashboard.queries as queries
import drucker.dashboard.security as security
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import LEVELS
from drucker.dashboard.web import Viewer, format_time, state

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
OVERVIEW_WAIT = 0.1  # seconds a page waits for fresh status before showing what it has
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FORGED = "the form is out of date or forged (CSRF token missing or wrong)"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = security.new_csrf_token()
    return str(token)


async def viewer(request: Request) -> Viewer:
    """The signed-in user. :raises Refused: (401) when nobody is signed in."""
    sid = request.session.get("sid")
    user = queries.session_user(state(request).db, sid) if isinstance(sid, str) else None
    if user is not None and request.session.get("pw") == user.password_hash[-16:]:
        return Viewer.of(user)
    request.session.pop("sid", None)
    raise Refused("sign in first", 401)


SignedIn = Annotated[Viewer, Depends(viewer)]


async def checked(request: Request, user: SignedIn) -> Viewer:
    """A signed-in user whose change request carries the session's CSRF token."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    if not security.same_token(request.session.get("csrf"), given):
        raise Refused(FORGED, 403)
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


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of a submitted form (files left out), for :func:`inputs.validated`."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}
