"""The traffic panel of one model of a service: the split (sliders and fields), the shadow, the
guards, promote and clear; live charts of the agreement and of the versions' latency; the
model's history with every policy change. Editors and admins change; viewers look."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

import drucker.dashboard.queries as queries
import drucker.dashboard.traffic as traffic
import drucker.dashboard.trafficlive as trafficlive
from drucker.client import ClientError
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import NAME_PATTERN
from drucker.dashboard.pages.common import Checked, Id, SignedIn, back, form_fields, render
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()
Model = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128)]
WEIGHT_FIELD = "weight:"  # the split form's fields: weight:<version>


def panel(service_id: int, model: str) -> str:
    return f"/services/{service_id}/traffic/{model}"


@router.get("/services/{service_id}/traffic")
async def traffic_models(request: Request, user: SignedIn, service_id: Id) -> Response:
    """The models of the service, each with a link to its panel (straight to it for one)."""
    service = queries.service(state(request).db, service_id)
    timeout = state(request).settings.status_timeout
    names: list[str] = []
    error = ""
    try:
        async with Endpoint.of(service).async_client(timeout) as client:
            index = await asyncio.wait_for(client.repository_index(), timeout)
            names = sorted({entry.name for entry in index})
            if not names:
                names = [(await asyncio.wait_for(client.service_info(), timeout)).application_name]
    except (ClientError, TimeoutError) as failure:
        error = str(failure) or "no answer in time"
    if len(names) == 1:
        return RedirectResponse(panel(service_id, names[0]), status_code=303)
    return render(
        request, "traffic_models.html", user=user, service=service, names=names, error=error
    )


async def _panel_data(endpoint: Endpoint, model: str, wait: float) -> dict[str, Any]:
    """The policy, the stored versions and the model's history (an error message instead)."""
    try:
        async with endpoint.for_model(model).async_client(wait) as client:
            policy = await asyncio.wait_for(client.traffic(), wait)
            versions, _ = await asyncio.wait_for(client.list_models(), wait)
            history = await asyncio.wait_for(client.model_history(), wait)
    except (ClientError, TimeoutError) as failure:
        return {"error": str(failure) or "no answer in time", "policy": None}
    return {
        "error": "",
        "policy": policy,
        "versions": [v.name for v in versions],
        "history": sorted(history, key=lambda entry: entry.at, reverse=True),
    }


def _weights(policy: Any, versions: list[str]) -> dict[str, float]:
    """The weight each version's field starts at: the split's, or 100 for the serving one."""
    if policy.split:
        return {v: float(policy.split.get(v, 0.0)) for v in versions}
    return {v: 100.0 if v == policy.serving else 0.0 for v in versions}


@router.get("/services/{service_id}/traffic/{model}")
async def traffic_page(request: Request, user: SignedIn, service_id: Id, model: Model) -> Any:
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    data = await _panel_data(Endpoint.of(service), model, app_state.settings.status_timeout)
    policy = data["policy"]
    context: dict[str, Any] = {}
    if policy is not None:
        app_state.traffic.add(service_id, model, policy)
        versions = data["versions"]
        context = {
            "versions": versions,
            "weights": _weights(policy, versions),
            "summary": traffic.summary(policy),
            "history": traffic.named_history(
                data["history"],
                queries.audit_entries(app_state.db, application=service.application),
                f"{service.address} {model}",
            ),
            "shadow_choices": [v for v in versions if not policy.split.get(v)],
        }
    return render(
        request,
        "traffic.html",
        user=user,
        service=service,
        model=model,
        here=panel(service_id, model),
        policy=policy,
        error=data["error"],
        **context,
    )


@router.get("/fragments/services/{service_id}/traffic/{model}")
async def traffic_live(request: Request, user: SignedIn, service_id: Id, model: Model) -> Any:
    """The live part of the panel: the figures and both charts (polled every 2 s)."""
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    wait = app_state.settings.status_timeout
    error = ""
    policy = None
    try:
        async with Endpoint.of(service, model).async_client(wait) as client:
            policy = await asyncio.wait_for(client.traffic(), wait)
        app_state.traffic.add(service_id, model, policy)
    except (ClientError, TimeoutError) as failure:
        error = str(failure) or "no answer in time"
    readings = app_state.traffic.readings(service_id, model)
    agreement, latency = trafficlive.charts(readings)
    return render(
        request,
        "_traffic_live.html",
        user=user,
        policy=policy,
        error=error,
        agreement=agreement,
        latency=latency,
        readings=len(readings),
    )


# -- changes ----------------------------------------------------------------------------------


def _number(fields: dict[str, str], name: str, what: str) -> float | None:
    """A form's number field (``None`` when left empty). :raises Refused: (422) otherwise."""
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise Refused(f"{what} is not a number: {text!r}", 422) from None
    if not math.isfinite(value):
        raise Refused(f"{what} is not a finite number: {text!r}", 422)
    return value


def split_of(fields: dict[str, str]) -> dict[str, float]:
    """The split a form asks for: every version given a weight above 0.

    :raises Refused: (422) for a weight that is not a number or is negative.
    """
    weights: dict[str, float] = {}
    for name in fields:
        if not name.startswith(WEIGHT_FIELD):
            continue
        version = name[len(WEIGHT_FIELD) :]
        weight = _number(fields, name, f"the weight of {version}")
        if weight is not None and weight < 0:
            raise Refused(f"the weight of {version} is negative: {weight:g}", 422)
        if weight:
            weights[version] = weight
    return weights


def _guard_of(fields: dict[str, str]) -> traffic.Change:
    version = fields.get("version", "")
    if not version:
        raise Refused("choose the version the guard watches", 422)
    max_error_rate = _number(fields, "max_error_rate", "the maximum error rate")
    min_agreement = _number(fields, "min_agreement", "the minimum agreement")
    for value, what in ((max_error_rate, "maximum error rate"), (min_agreement, "agreement")):
        if value is not None and not 0 <= value <= 1:
            raise Refused(f"the {what} is a share in [0, 1], not {value:g}", 422)
    if max_error_rate is None and min_agreement is None:
        raise Refused("give a maximum error rate, a minimum agreement or both", 422)
    window = _number(fields, "window", "the window") or 100
    if window < 1 or window != int(window):
        raise Refused(f"the window is a whole number of requests (1 or more), not {window:g}", 422)
    return traffic.guard(version, max_error_rate, min_agreement, int(window))


def _change_of(action: str, fields: dict[str, str]) -> tuple[traffic.Change, str]:
    """What a form asks and the message shown once it is done."""
    version = fields.get("version", "")
    if action == "split":
        weights = split_of(fields)
        return traffic.split(weights), "split set"
    if action == "shadow":
        fraction = _number(fields, "fraction", "the fraction")
        if not version:
            raise Refused("choose the shadow version", 422)
        if fraction is None or not 0 < fraction <= 1:
            raise Refused("the fraction is in (0, 1], e.g. 0.25", 422)
        return traffic.shadow(version, fraction), f"shadowing {version}"
    if action == "shadow-off":
        return traffic.stop_shadow(), "shadow stopped"
    if action == "guard":
        return _guard_of(fields), f"guard set on {version}"
    if action == "guard-off":
        return traffic.remove_guard(version), f"guard on {version} removed"
    if action == "promote":
        if not version:
            raise Refused("choose the version to promote", 422)
        return traffic.promote(version), f"{version} serves all"
    if action == "clear":
        return traffic.clear(), "policy cleared"
    raise Refused(f"no traffic action {action!r}", 404)


ACTIONS = "split|shadow|shadow-off|guard|guard-off|promote|clear"


@router.post("/services/{service_id}/traffic/{model}/{action}")
async def traffic_change(
    request: Request,
    user: Checked,
    service_id: Id,
    model: Model,
    action: Annotated[str, Path(pattern=f"^({ACTIONS})$")],
) -> Response:
    """One change of the policy (a production promote asks to confirm, as a switch does)."""
    require(user, edit=True)
    app_state = state(request)
    service = queries.service(app_state.db, service_id)
    here = panel(service_id, model)
    fields = await form_fields(request)
    confirm = fields.pop("confirm", "")
    try:
        wanted, done = _change_of(action, fields)
    except Refused as refused:
        return back(here, error=refused.message)
    if action == "promote" and service.level == "production" and confirm != service.application:
        return render(
            request,
            "confirm.html",
            user=user,
            action=f"{here}/promote",
            fields={"version": fields.get("version", "")},
            what=f"promote {fields.get('version', '')} of {model} on {service.address} "
            f"({service.application}, production) to serve all requests",
            application=service.application,
        )
    try:
        await in_thread(traffic.change, app_state.db, user.name, service_id, model, wanted)
    except Refused as refused:
        return back(here, error=refused.message)
    if action == "promote":
        await app_state.board.refresh(Endpoint.of(service))
    return back(here, message=done)
