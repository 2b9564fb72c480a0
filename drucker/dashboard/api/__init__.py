"""The JSON API for scripts: what the pages do, authenticated by per-user API tokens.

Mounted at ``/api``; its OpenAPI schema is served at ``/api/openapi.json`` (docs at
``/api/docs``). Send ``Authorization: Bearer <token>``; make a token on the account page.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from drucker.dashboard.api import records, service_models, services, traffic
from drucker.dashboard.api.schemas import ERRORS
from drucker.dashboard.errors import Refused

__all__ = ["build_api"]


async def refused(request: Request, error: Exception) -> JSONResponse:
    """A refusal as ``{"detail": message}``; a 401 names the Bearer scheme."""
    assert isinstance(error, Refused)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse({"detail": error.message}, error.status, headers=headers)


def build_api() -> FastAPI:
    """The API application (mounted under ``/api`` by the dashboard)."""
    api = FastAPI(
        title="drucker dashboard API",
        version="1",
        description=__doc__,
        responses=ERRORS,
        docs_url="/docs",
        redoc_url=None,
    )
    api.add_exception_handler(Refused, refused)
    api.include_router(records.router)
    api.include_router(services.router)
    api.include_router(service_models.router)
    api.include_router(traffic.router)
    return api
