"""The HTML pages: server-rendered templates, signed session cookies, CSRF on every change."""

from fastapi import APIRouter

from drucker.dashboard.pages import (
    admin,
    evaluations,
    models,
    service_models,
    services,
    session,
    traffic,
    trafficsample,
    versions,
)
from drucker.dashboard.pages.common import render

router = APIRouter(include_in_schema=False)
# The traffic pages come before the evaluations': /evaluations/shadow-sample is not an id.
for module in (
    session,
    services,
    service_models,
    models,
    traffic,
    trafficsample,
    versions,
    evaluations,
    admin,
):
    router.include_router(module.router)

__all__ = ["render", "router"]
