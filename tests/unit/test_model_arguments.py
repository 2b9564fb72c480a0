"""``drucker serve --model``: a lone FILE (one model named app.name) or NAME=FILE pairs."""

from __future__ import annotations

import pytest

from drucker.errors import InvalidNameError
from drucker.server.model_set import parse_model_arguments


def test_a_lone_file_keeps_its_meaning() -> None:
    assert parse_model_arguments(["model/iris.joblib"]) == ("model/iris.joblib", {})
    assert parse_model_arguments(["s3://bucket/key=1.joblib"]) == ("s3://bucket/key=1.joblib", {})
    assert parse_model_arguments([]) == (None, {})


def test_named_models_keep_their_order() -> None:
    lone, named = parse_model_arguments(["b=./b.model", "a=/models/a.model"])
    assert lone is None
    assert list(named.items()) == [("b", "./b.model"), ("a", "/models/a.model")]


@pytest.mark.parametrize(
    "values",
    [["a=x", "a=y"], ["a=x", "lone.model"], ["one.model", "two.model"], ["..=x"]],
)
def test_ambiguous_or_bad_arguments_are_refused(values: list[str]) -> None:
    with pytest.raises(InvalidNameError):
        parse_model_arguments(values)
