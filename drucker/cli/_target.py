"""``--target``: the same default and environment variable in every command (imports only click)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TARGET = "localhost:5000"
TARGET_ENV = "DRUCKER_TARGET"


def target_option(function: F) -> F:
    """``--target HOST:PORT`` (default ``localhost:5000``, or ``$DRUCKER_TARGET``)."""
    return click.option(
        "--target",
        default=DEFAULT_TARGET,
        show_default=True,
        envvar=TARGET_ENV,
        show_envvar=True,
        help="HOST:PORT of the server.",
    )(function)
