"""What the ``drucker bundle`` commands share: the ``--store`` option, the store it opens, a
Docker engine when there is one, and the exit code 2 for drucker's own refusals."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from drucker.bundle.store import STORE_ENV, BundleStore
from drucker.errors import ConfigurationError, DruckerError

T = TypeVar("T")

store_option = click.option(
    "--store",
    "store_root",
    metavar="DIR",
    envvar=STORE_ENV,
    show_envvar=True,
    help="Bundle store (default: ~/.local/share/drucker/bundles).",
)


no_smoke_option = click.option(
    "--no-smoke",
    is_flag=True,
    help="Skip the smoke start (run the image once and wait for it to serve).",
)


def open_store(root: str | None) -> BundleStore:
    """The bundle store at ``root`` (``--store``), else the default one."""
    return BundleStore(Path(root) if root else None)


def guard(action: Callable[[], T]) -> T:
    """``action()``; a :class:`DruckerError` it raises stops the command with exit code 2."""
    try:
        return action()
    except DruckerError as error:
        click.echo(f"drucker bundle: {error}", err=True)
        sys.exit(2)


def engine() -> tuple[Any | None, str]:
    """A Docker client, or None and why there is none."""
    from drucker.bundle.image import docker_client

    try:
        return docker_client(), ""
    except ConfigurationError as error:
        return None, str(error)
