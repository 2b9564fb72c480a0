"""schemathesis against the served OpenAPI document: no 500s, answers as the document says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import IN_CI
from tests.serving import ThreadedServer, sklearn_http_server

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[ThreadedServer]:
    settings_ = {"application_name": "iris", "v2_max_rows": 16}
    workdir = tmp_path_factory.mktemp("rest-schema")
    with sklearn_http_server(iris_model, workdir, settings_) as server:
        yield server


def operations(served: ThreadedServer) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{served.http_url}/v2/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis' own pytest plugin (from_fixture) does not load under pytest 9, so each
# operation's strategy is driven by Hypothesis directly.
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_the_api_keeps_to_its_document(served: ThreadedServer, mode: Any) -> None:
    found = operations(served)
    assert len(found) == 9
    if mode is schemathesis.GenerationMode.NEGATIVE:
        # Only a request body can break the document: any path segment is a model's name.
        found = [operation for operation in found if operation.method == "post"]
    for operation in found:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            derandomize=IN_CI,  # CI replays one fixed set of cases; locally each run explores
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def keeps_to_the_document(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        keeps_to_the_document()
