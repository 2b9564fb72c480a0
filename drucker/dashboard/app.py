"""The dashboard application: pages, the JSON API under ``/api``, static assets, sessions."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

import drucker.dashboard.queries as queries
import drucker.dashboard.security as security
from drucker._version import __version__
from drucker.dashboard.api import build_api
from drucker.dashboard.config import DashboardSettings, ensure_secret_key
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.pages import render, router
from drucker.dashboard.status import StatusBoard
from drucker.dashboard.web import STATIC, TEMPLATES, State

SESSION_COOKIE = "drucker_dashboard"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


probes = APIRouter(include_in_schema=False)


@probes.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate the database and start watching the services; close both at the end."""
    dashboard: State = app.state.dashboard
    dashboard.db.migrate()
    dashboard.board.watch(map(Endpoint.of, queries.services(dashboard.db)))  # warm the cache
    try:
        yield
    finally:
        await asyncio.to_thread(dashboard.board.close)
        dashboard.db.close()


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """The security headers on every answer (not the API docs, which load their own
    scripts), and the time the answer took."""
    started = time.perf_counter()
    response = await call_next(request)
    elapsed = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
    if not request.url.path.startswith("/api/docs"):
        response.headers.update(SECURITY_HEADERS)
    return response


def create_app(settings: DashboardSettings, *, https: bool = False) -> FastAPI:
    """The ASGI application; migrations run at start-up (``https``: Secure cookies)."""
    settings = ensure_secret_key(settings)
    db = Database(settings.database_url)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.globals["version"] = __version__
    dashboard = State(
        settings=settings,
        db=db,
        board=StatusBoard(settings.status_ttl, settings.status_timeout),
        limiter=security.LoginLimiter(
            settings.login_attempts, settings.login_window, settings.login_max_delay
        ),
        templates=templates,
    )

    app = FastAPI(
        title="drucker dashboard",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.dashboard = dashboard
    api = build_api()
    api.state.dashboard = dashboard
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=security.SESSION_SECONDS,
        same_site="strict",
        https_only=https,
    )

    app.middleware("http")(security_headers)
    app.add_exception_handler(Refused, refused)
    app.include_router(probes)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.mount("/api", api)
    return app


async def refused(request: Request, error: Exception) -> Response:
    """A refusal: to sign in (a page asked for) or the error page."""
    assert isinstance(error, Refused)
    if error.status == 401:
        target = urllib.parse.quote(request.url.path)
        if request.method == "GET":
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return JSONResponse({"detail": error.message}, 401)
    return error_page(request, error.status, error.message)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, status=status, message=message)
