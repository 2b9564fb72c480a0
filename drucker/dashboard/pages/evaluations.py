"""Evaluations: run one, see its charts, compare two, download the details."""

from __future__ import annotations

import pathlib
import re
import tempfile
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse
from starlette.responses import Response

import drucker.dashboard.charts as charts
import drucker.dashboard.evaluations as evaluations
import drucker.dashboard.operations as operations
import drucker.dashboard.queries as queries
import drucker.dashboard.repository as repository
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import NAME_PATTERN, NAME_RULE
from drucker.dashboard.pages.common import Checked, Id, SignedIn, back, render
from drucker.dashboard.stored_evaluations import merged_evaluations, stored_results
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()

# -- evaluations ------------------------------------------------------------------------------


@router.get("/evaluations")
async def evaluations_page(request: Request, user: SignedIn) -> HTMLResponse:
    app_state = state(request)
    db = app_state.db
    records, services = queries.evaluations(db), queries.services(db)
    stored, errors = await stored_results(services, app_state.settings.status_timeout)
    rows = merged_evaluations(stored, records)
    return render(
        request,
        "evaluations.html",
        user=user,
        rows=rows,
        records=records,
        services=services,
        unreachable=errors,
    )


@router.post("/evaluations")
async def evaluate(
    request: Request,
    user: Checked,
    service_id: Annotated[int, Form()],
    file: Annotated[UploadFile, Form()],
    model_name: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Evaluate the serving file of a service's model (``model_name`` on a server of several;
    its default model without)."""
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    if model_name and not re.fullmatch(NAME_PATTERN, model_name):
        return back("/evaluations", error=NAME_RULE)
    key = repository.model_key(service, model_name)
    name = (file.filename or "data").rsplit("/", 1)[-1] or "data"
    limit = app_state.settings.max_upload_bytes
    if (file.size or 0) > limit:
        return back("/evaluations", error=f"the file is larger than {limit} bytes")
    with tempfile.NamedTemporaryFile(dir=app_state.upload_dir, prefix="data-") as handle:
        while chunk := await file.read(1024 * 1024):
            handle.write(chunk)
            if handle.tell() > limit:
                return back("/evaluations", error=f"the file is larger than {limit} bytes")
        handle.flush()
        try:
            row = await in_thread(
                operations.evaluate,
                app_state.db,
                user.name,
                service_id,
                pathlib.Path(handle.name),
                name,
                key,
            )
        except Refused as error:
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
    first, second = queries.evaluation(app_state.db, a), queries.evaluation(app_state.db, b)
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
    row = queries.evaluation(state(request).db, evaluation_id)
    chart = charts.bar_chart(
        row.labels, {"precision": row.precision, "recall": row.recall, "F1": row.f1}
    )
    heat = charts.heat_map(row.labels, row.confusion)
    others = [
        (e.id, e.data_name, e.model_name)
        for e in queries.evaluations(state(request).db, row.application, besides=row.id)
    ]
    return render(
        request, "evaluation.html", user=user, row=row, chart=chart, heat=heat, others=others
    )


@router.get("/evaluations/{evaluation_id}/details.csv")
async def evaluation_csv(request: Request, user: SignedIn, evaluation_id: Id) -> PlainTextResponse:
    row = queries.evaluation(state(request).db, evaluation_id)
    return PlainTextResponse(
        row.details_csv,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="evaluation-{row.id}.csv"'},
    )
