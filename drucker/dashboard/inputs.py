"""What users send, checked once: the same models serve the JSON API (request bodies) and the
HTML forms (:func:`validated`), so a value is refused by the same rule with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import PydanticCustomError

from drucker.dashboard.errors import Refused
from drucker.dashboard.models import Role

# The patterns are written to mean the same to the JSON schema's readers (ECMA 262), to
# pydantic and to Python's re: ASCII classes only, no \s or \S (whose Unicode sets differ).
# HOST:PORT (HOST in RFC 3986 reg-name characters), or [IPv6]:PORT.
ADDRESS_PATTERN = r"^[A-Za-z0-9._~%!$&'()*+,;=-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$"
ADDRESS_RULE = "the address is HOST:PORT or [IPv6]:PORT, e.g. 127.0.0.1:5000"
METRICS_URL_PATTERN = r"^(https?://[!-~]+)?$"
METRICS_URL_RULE = "the metrics URL starts with http:// or https:// (printable ASCII)"
USER_NAME_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"
USER_NAME_RULE = "a user name is 1-64 letters, digits or . _ - @"
# Names services accept for stored files: letters, digits, . _ + -, not starting with a dot.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"
NAME_RULE = "a model name is letters, digits, '.', '_', '+' and '-'"


def _matching(pattern: str, kind: str, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise PydanticCustomError(kind, rule)
        return value

    return AfterValidator(check)


Address = Annotated[
    str,
    Field(
        max_length=255,
        json_schema_extra={"pattern": ADDRESS_PATTERN},
        examples=["127.0.0.1:5000"],
        description="HOST:PORT of a running drucker service",
    ),
    _matching(ADDRESS_PATTERN, "address", ADDRESS_RULE),
]
MetricsUrl = Annotated[
    str,
    Field(max_length=1024, json_schema_extra={"pattern": METRICS_URL_PATTERN}),
    _matching(METRICS_URL_PATTERN, "metrics_url", METRICS_URL_RULE),
]
UserName = Annotated[
    str,
    Field(json_schema_extra={"pattern": USER_NAME_PATTERN}),
    _matching(USER_NAME_PATTERN, "user_name", USER_NAME_RULE),
]


class ServiceIn(BaseModel):
    """A service to register."""

    address: Address
    token: str = Field("", max_length=4096, pattern=r"^[!-~]*$", description="printable ASCII")
    tls_ca: str = Field("", max_length=65536, description="PEM of the CA; empty: plaintext")
    metrics_url: MetricsUrl = ""


class SwitchIn(BaseModel):
    """The model one service is to serve."""

    model: str = Field(..., min_length=1, max_length=255)
    confirm: bool = Field(False, description="required (true) for production services")


class LevelSwitchIn(SwitchIn):
    """The model every service of one application at one level is to serve."""

    application: str = Field(..., min_length=1, max_length=128)
    level: str = Field(..., min_length=1, max_length=16)


class UserIn(BaseModel):
    """A user to add."""

    name: UserName
    role: Role
    password: str = Field(..., min_length=8, max_length=1024)


Input = TypeVar("Input", bound=BaseModel)


# The kinds of error whose message names its field.
OWN_KINDS = frozenset({"address", "metrics_url", "user_name"})


def problem(error: ValidationError) -> str:
    """The messages of a refused input, one per field, as the API reports them (prefixed by
    the field's name where the message does not say it)."""
    return "; ".join(
        detail["msg"]
        if detail["type"] in OWN_KINDS
        else f"{_field(detail['loc'])}: {detail['msg']}"
        for detail in error.errors()
    )


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(map(str, location)) or "input"


def validated(schema: type[Input], fields: Mapping[str, Any]) -> Input:
    """A form's fields as ``schema``. :raises Refused: (422) with the API's messages."""
    try:
        return schema.model_validate(fields)
    except ValidationError as error:
        raise Refused(problem(error), 422) from None
