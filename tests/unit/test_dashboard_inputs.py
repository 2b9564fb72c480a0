"""The dashboard's input models: one rule and one message a field, for the API and the forms."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from pydantic import ValidationError

from drucker.dashboard.errors import Refused
from drucker.dashboard.inputs import (
    ADDRESS_PATTERN,
    ADDRESS_RULE,
    METRICS_URL_RULE,
    USER_NAME_RULE,
    ServiceIn,
    UserIn,
    validated,
)

# \x85, \xa0, \ufeff and \x1c are white space to some regex engines and not to others: the
# schema's readers and the server must agree on them (schemathesis found \x85 accepted by one).
BAD_ADDRESSES = [
    *("no-port:abc", "http://host:80", "two words:1", "host:123456", ":5000", ""),
    *(f"a{odd}b:1" for odd in ("\x85", "\xa0", "\ufeff", "\x1c", "\t", "/", "@", "\u00e9")),
]
GOOD_ADDRESSES = ["127.0.0.1:5000", "localhost:1", "[::1]:5000", "svc.example:65535"]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_a_bad_address_is_refused_with_one_message(address: str) -> None:
    with pytest.raises(ValidationError) as api:
        ServiceIn.model_validate({"address": address})
    (problem,) = api.value.errors()
    with pytest.raises(Refused) as form:
        validated(ServiceIn, {"address": address, "csrf_token": "ignored"})
    assert problem["msg"] == form.value.message == ADDRESS_RULE
    assert form.value.status == 422


@pytest.mark.parametrize("address", GOOD_ADDRESSES)
def test_a_good_address_passes_both_ways(address: str) -> None:
    assert validated(ServiceIn, {"address": address}).address == address


@pytest.mark.parametrize("url", ["ftp://host/metrics", "https://", "https://a\x85b/", "http://a b"])
def test_a_bad_metrics_url_is_refused_with_its_rule(url: str) -> None:
    with pytest.raises(Refused) as form:
        validated(ServiceIn, {"address": "127.0.0.1:5000", "metrics_url": url})
    assert form.value.message == METRICS_URL_RULE
    given = {"address": "127.0.0.1:5000", "metrics_url": "http://127.0.0.1:8082/metrics"}
    assert validated(ServiceIn, given).metrics_url == given["metrics_url"]


def test_the_schema_still_states_the_pattern() -> None:
    schema = ServiceIn.model_json_schema()["properties"]["address"]
    assert schema["pattern"] == ADDRESS_PATTERN and schema["maxLength"] == 255


def test_user_input_names_the_field_for_built_in_checks() -> None:
    with pytest.raises(Refused) as refused:
        validated(UserIn, {"name": "bad name!", "role": "root", "password": "short"})
    message = refused.value.message
    assert USER_NAME_RULE in message
    assert "role: " in message and "password: " in message
    given = validated(UserIn, {"name": "ada", "role": "viewer", "password": "long enough"})
    assert given.role.value == "viewer"
