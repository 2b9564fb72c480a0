"""What the JSON API answers (its inputs are :mod:`drucker.dashboard.inputs`), and the
path parameters and error answers its routes share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from drucker.dashboard.inputs import NAME_PATTERN
from drucker.dashboard.models import Role, Service
from drucker.dashboard.status import ServiceStatus

MAX_ID = 2**31 - 1
Id = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ServiceId = Annotated[int, Field(ge=1, le=MAX_ID)]
# A stored file's name, as services accept it.
FileName = Annotated[str, PathParam(pattern=NAME_PATTERN, description="a file name in a store")]
# A model of a server of several models, by name.
ModelName = Annotated[
    str, PathParam(pattern=NAME_PATTERN, max_length=128, description="a model of the service")
]
ModelNameQuery = Annotated[
    str,
    Query(
        pattern=NAME_PATTERN,
        max_length=128,
        description="the model acted on, on a server of several models (default: its default "
        "model, the one a client naming no model reaches)",
    ),
]


class CSVResponse(PlainTextResponse):
    media_type = "text/csv"


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


ERROR_CODES = (400, 401, 403, 404, 409, 422, 502)
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in ERROR_CODES}
# Routes that answer text still answer errors as JSON.
TEXT_ROUTE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "model": Problem,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code in ERROR_CODES
}


def body_of(media_type: str, schema: dict[str, str]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its raw body itself."""
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


BINARY_BODY = body_of("application/octet-stream", {"type": "string", "format": "binary"})
YAML_BODY = body_of("application/yaml", {"type": "string"})


class Me(BaseModel):
    name: str
    role: Role


class ServiceOut(BaseModel):
    id: int
    address: str
    application: str
    service_name: str
    level: str
    metrics_url: str
    has_token: bool
    has_tls_ca: bool
    up: bool | None = Field(default=None, description="null while the first check is under way")
    model_name: str | None = None
    model_sha256: str | None = None
    request_rate: float | None = None
    p99_seconds: float | None = None
    error: str = ""

    @classmethod
    def of(cls, service: Service, status: ServiceStatus | None) -> ServiceOut:
        """A service as the API shows it: never its token or CA, with its status when known."""
        out = cls(
            id=service.id,
            address=service.address,
            application=service.application,
            service_name=service.service_name,
            level=service.level,
            metrics_url=service.metrics_url,
            has_token=bool(service.token),
            has_tls_ca=bool(service.tls_ca),
        )
        if status is not None:
            out.up = status.up
            out.error = status.error
            out.request_rate = status.request_rate
            out.p99_seconds = status.p99_seconds
            if status.info is not None:
                out.model_name = status.info.model_name
                out.model_sha256 = status.info.model_sha256
        return out


class StoredModelOut(BaseModel):
    name: str
    size: int
    sha256: str
    uploaded_at: float
    active: bool
    description: str = ""


class OutcomeOut(BaseModel):
    service_id: Id
    address: str
    ok: bool
    message: str


class RepositoryModelOut(BaseModel):
    """One model of a service (its Open Inference repository index)."""

    name: str
    version: str = Field(description="the serving version (stored file); empty when not READY")
    state: str = Field(description="READY, UNAVAILABLE, LOADING or UNLOADING")
    reason: str


class UploadOut(BaseModel):
    name: str
    sha256: str
    size: int
    outcomes: list[OutcomeOut]


class SwitchOut(BaseModel):
    id: int
    from_model: str
    to_model: str
    is_rollback: bool
    ok: bool
    user: str
    at: float


class EvaluationOut(BaseModel):
    id: int
    application: str
    service_address: str
    data_name: str
    model_name: str
    model_sha256: str
    num: int
    accuracy: float
    labels: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    confusion: list[list[int]]
    created_by: str
    created_at: float


class AuditOut(BaseModel):
    id: int
    at: float
    user: str
    action: str
    application: str
    target: str
    before: str
    after: str
    ok: bool
    message: str
