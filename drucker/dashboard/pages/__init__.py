"""The HTML pages: server-rendered templates, signed session cookies, CSRF on every change."""

from fastapi import APIRouter

from drucker.dashboard.pages import (
    admin,
    evaluations,
    models,
    services,
    session,
    traffic,
    trafficsample,
)
from drucker.dashboard.pages.common import render

router = APIRouter(include_in_schema=False)
for module in (session, services, models, evaluations, admin, traffic, trafficsample):
    router.include_router(module.router)

__all__ = ["render", "router"]
