"""The API's traffic: one model's policy on a service (split, shadow, guards, promote, clear),
its live figures and its shadow sample, as the traffic panel shows them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import attrs
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

import drucker.dashboard.queries as queries
import drucker.dashboard.shadowsample as shadowsample
import drucker.dashboard.traffic as traffic
from drucker.client import ClientError
from drucker.client.types import Traffic
from drucker.dashboard.api.auth import User
from drucker.dashboard.api.schemas import TEXT_ROUTE_ERRORS, CSVResponse, Id
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import NAME_PATTERN
from drucker.dashboard.web import in_thread, require, state

router = APIRouter()
Model = Annotated[str, PathParam(pattern=NAME_PATTERN, max_length=128, description="a model")]
Version = Annotated[str, Field(min_length=1, max_length=255, description="a stored version")]
Share = Annotated[float, Field(ge=0, le=1)]
SAMPLE_TIMEOUT = 30.0


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class GuardOut(_Out):
    version: str
    max_error_rate: float | None
    min_agreement: float | None
    window: int
    tripped: bool
    reason: str
    tripped_at: float


class VersionOut(_Out):
    version: str
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    loaded: bool


class ShadowOut(_Out):
    agree: int
    disagree: int
    shadow_error: int
    dropped: int
    total: int
    agreement: float | None
    mean_score_difference: float
    shadow_latency_p50_ms: float
    shadow_latency_p99_ms: float


class TrafficOut(_Out):
    model: str
    serving: str
    split: dict[str, float]
    shadow_version: str
    shadow_fraction: float
    guards: list[GuardOut]
    versions: list[VersionOut]
    shadow: ShadowOut
    changed_at: float
    changed_by: str
    message: str
    summary: str


class SplitIn(BaseModel):
    weights: dict[Version, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        ..., description="percent per version, summing to 100; empty: no split"
    )


class ShadowIn(BaseModel):
    version: Version
    fraction: float = Field(..., gt=0, le=1, description="of the requests, in (0, 1]")


class GuardIn(BaseModel):
    """A guard's limits: at least one of ``max_error_rate`` and ``min_agreement``."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": ["max_error_rate"]}, {"required": ["min_agreement"]}]
        }
    )
    max_error_rate: Share | SkipJsonSchema[None] = None
    min_agreement: Share | SkipJsonSchema[None] = None
    window: int = Field(100, ge=1, le=2**31 - 1, description="requests per window")


class PromoteIn(BaseModel):
    version: Version
    confirm: bool = Field(False, description="required (true) for production services")


def _out(policy: Traffic) -> TrafficOut:
    fields = {field.name: getattr(policy, field.name) for field in attrs.fields(Traffic)}
    return TrafficOut.model_validate(
        {**fields, "summary": traffic.summary(policy)}, from_attributes=True
    )


async def _change(
    request: Request, user: User, service_id: int, model: str, wanted: traffic.Change
) -> TrafficOut:
    require(user, edit=True)
    db = state(request).db
    policy = await in_thread(traffic.change, db, user.name, service_id, model, wanted)
    return _out(policy)


@router.get("/services/{service_id}/traffic/{model}", response_model=TrafficOut)
async def policy(request: Request, user: User, service_id: Id, model: Model) -> TrafficOut:
    """The model's policy and live figures."""
    endpoint = Endpoint.of(queries.service(state(request).db, service_id))
    return _out(await in_thread(traffic.read, endpoint, model))


@router.put("/services/{service_id}/traffic/{model}/split", response_model=TrafficOut)
async def split(
    request: Request, user: User, service_id: Id, model: Model, body: SplitIn
) -> TrafficOut:
    return await _change(request, user, service_id, model, traffic.split(body.weights))


@router.put("/services/{service_id}/traffic/{model}/shadow", response_model=TrafficOut)
async def shadow(
    request: Request, user: User, service_id: Id, model: Model, body: ShadowIn
) -> TrafficOut:
    wanted = traffic.shadow(body.version, body.fraction)
    return await _change(request, user, service_id, model, wanted)


@router.delete("/services/{service_id}/traffic/{model}/shadow", response_model=TrafficOut)
async def stop_shadow(request: Request, user: User, service_id: Id, model: Model) -> TrafficOut:
    return await _change(request, user, service_id, model, traffic.stop_shadow())


@router.put("/services/{service_id}/traffic/{model}/guards/{version}", response_model=TrafficOut)
async def guard(
    request: Request,
    user: User,
    service_id: Id,
    model: Model,
    version: Annotated[str, PathParam(pattern=NAME_PATTERN)],
    body: GuardIn,
) -> TrafficOut:
    if body.max_error_rate is None and body.min_agreement is None:
        raise Refused("give max_error_rate, min_agreement or both", 422)
    wanted = traffic.guard(version, body.max_error_rate, body.min_agreement, body.window)
    return await _change(request, user, service_id, model, wanted)


@router.delete("/services/{service_id}/traffic/{model}/guards/{version}", response_model=TrafficOut)
async def remove_guard(
    request: Request,
    user: User,
    service_id: Id,
    model: Model,
    version: Annotated[str, PathParam(pattern=NAME_PATTERN)],
) -> TrafficOut:
    return await _change(request, user, service_id, model, traffic.remove_guard(version))


@router.post("/services/{service_id}/traffic/{model}/promote", response_model=TrafficOut)
async def promote(
    request: Request, user: User, service_id: Id, model: Model, body: PromoteIn
) -> TrafficOut:
    """Make the version serve everything (a switch); production needs ``confirm``."""
    require(user, edit=True)
    service = queries.service(state(request).db, service_id)
    if service.level == "production" and not body.confirm:
        raise Refused(f"{service.address} is production: send confirm: true", 409)
    wanted = traffic.promote(body.version)
    out = await _change(request, user, service_id, model, wanted)
    state(request).board.forget(service_id)
    return out


@router.delete("/services/{service_id}/traffic/{model}", response_model=TrafficOut)
async def clear(request: Request, user: User, service_id: Id, model: Model) -> TrafficOut:
    return await _change(request, user, service_id, model, traffic.clear())


@router.get(
    "/services/{service_id}/traffic/{model}/sample.csv",
    response_class=CSVResponse,
    responses=TEXT_ROUTE_ERRORS,
)
async def sample(request: Request, user: User, service_id: Id, model: Model) -> str:
    """The kept shadowed requests: input and both versions' answers, one a line."""
    service = queries.service(state(request).db, service_id)
    try:
        async with Endpoint.of(service, model).async_client(SAMPLE_TIMEOUT) as client:
            kept = await asyncio.wait_for(client.shadow_sample(), SAMPLE_TIMEOUT)
    except ClientError as error:
        raise traffic.refusal(error, service.address) from None
    except TimeoutError:
        raise Refused(f"{service.address}: no shadow sample in {SAMPLE_TIMEOUT:g} s", 502) from None
    return shadowsample.as_csv(kept.rows)
