"""The shadow sample of a model: the two versions compared on it, and the sample as CSV."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import attrs
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

import drucker.dashboard.charts as charts
import drucker.dashboard.queries as queries
import drucker.dashboard.shadowsample as shadowsample
import drucker.dashboard.traffic as traffic
from drucker.client import ClientError
from drucker.client.types import ShadowSample
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import NAME_PATTERN
from drucker.dashboard.pages.common import Id, SignedIn, render
from drucker.dashboard.pages.traffic import Model, panel
from drucker.dashboard.web import state

router = APIRouter()
SAMPLE_TIMEOUT = 30.0
Version = Annotated[str, Query(max_length=255)]


async def _sample(request: Request, service_id: int, model: str) -> ShadowSample:
    service = queries.service(state(request).db, service_id)
    try:
        async with Endpoint.of(service, model).async_client(SAMPLE_TIMEOUT) as client:
            return await asyncio.wait_for(client.shadow_sample(), SAMPLE_TIMEOUT)
    except ClientError as error:
        raise traffic.refusal(error, service.address) from None
    except TimeoutError:
        raise Refused(f"{service.address}: no shadow sample in {SAMPLE_TIMEOUT:g} s", 502) from None


def _heat(comparison: shadowsample.Comparison) -> charts.HeatMap:
    heat = charts.heat_map(comparison.matrix_labels, comparison.matrix)
    names = comparison.matrix_labels
    size = len(names)
    cells = [
        attrs.evolve(
            cell,
            title=f"{comparison.primary} answered {names[i // size]}, "
            f"{comparison.shadow} {names[i % size]}: {cell.count}",
        )
        for i, cell in enumerate(heat.cells)
    ]
    return attrs.evolve(heat, cells=cells)


@router.get("/services/{service_id}/traffic/{model}/sample")
async def sample_page(
    request: Request,
    user: SignedIn,
    service_id: Id,
    model: Model,
    primary: Version = "",
    shadow: Version = "",
) -> HTMLResponse:
    """The serving version and the shadow compared on the kept shadowed requests."""
    service = queries.service(state(request).db, service_id)
    sample = await _sample(request, service_id, model)
    pairs = shadowsample.pairs(sample.rows)
    if not (primary and shadow) and pairs:
        primary, shadow = pairs[0]
    comparison = shadowsample.compare(sample.rows, primary, shadow)
    context: dict[str, Any] = {}
    if comparison.num:
        rows = comparison.labels
        context["chart"] = charts.bar_chart(
            [row.label for row in rows],
            {
                "A (served)": [row.primary / comparison.num for row in rows],
                "B (shadow)": [row.shadow / comparison.num for row in rows],
            },
        )
        context["heat"] = _heat(comparison)
    return render(
        request,
        "traffic_sample.html",
        user=user,
        service=service,
        model=model,
        here=panel(service_id, model),
        sample=sample,
        pairs=pairs,
        comparison=comparison,
        label_text=shadowsample.label_text,
        **context,
    )


@router.get("/evaluations/shadow-sample")
async def sample_of_evaluations(
    request: Request,
    user: SignedIn,
    service_id: Annotated[int, Query(ge=1, le=2**31 - 1)],
    model: Annotated[str, Query(pattern=NAME_PATTERN, max_length=128)],
) -> RedirectResponse:
    """The evaluations page's form: to the comparison on that model's shadow sample."""
    queries.service(state(request).db, service_id)
    return RedirectResponse(f"{panel(service_id, model)}/sample", status_code=303)


@router.get("/services/{service_id}/traffic/{model}/sample.csv")
async def sample_csv(
    request: Request, user: SignedIn, service_id: Id, model: Model
) -> PlainTextResponse:
    sample = await _sample(request, service_id, model)
    return PlainTextResponse(
        shadowsample.as_csv(sample.rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{model}-shadow-sample.csv"'},
    )
