"""The smoke prediction a model must pass before it serves (``management.smoke_input``)."""

from __future__ import annotations

from typing import Any

from drucker.errors import DruckerError, InvalidInputError, ModelLoadError
from drucker.kinds import Kind
from drucker.runtime import ActiveModel, Runtime


def smoke_kind(value: Any) -> Kind:
    """The input kind of the smoke input ``value`` (a string, or a list of strings or numbers).

    :raises InvalidInputError: for any other value.
    """
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return Kind.ARR_STRING
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return Kind.ARR_INT if all(isinstance(v, int) for v in value) else Kind.ARR_FLOAT
    raise InvalidInputError(f"management.smoke_input {value!r} is not a usable input")


def smoke_test(runtime: Runtime, value: Any, candidate: ActiveModel) -> None:
    """Predict ``value`` with ``candidate`` (not yet serving).

    :raises ModelLoadError: when the prediction fails, naming the candidate and why.
    """
    kind = smoke_kind(value)
    try:
        runtime.predict(value, {}, kind, Kind.STRING, model=candidate)
    except DruckerError as error:
        raise ModelLoadError(f"{candidate.name} failed the smoke prediction: {error}") from None
