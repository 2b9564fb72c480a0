"""Options and error handling shared by the commands that talk to a running server."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import grpc

from drucker.client import Client, ClientError

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes: 0 success, 2 usage, then one per family of gRPC errors.
EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: 3,
    grpc.StatusCode.UNAVAILABLE: 4,
    grpc.StatusCode.DEADLINE_EXCEEDED: 4,
    grpc.StatusCode.UNAUTHENTICATED: 5,
    grpc.StatusCode.PERMISSION_DENIED: 5,
    grpc.StatusCode.NOT_FOUND: 6,
}
EXIT_REFUSED = 7  # a management call answered with status 0
EXIT_OTHER = 8


def exit_codes_help(usage: str, refused: bool = False) -> str:
    """The "Exit codes" paragraph of a command's help, from the table above.

    :param usage: what exit code 2 means for the command.
    :param refused: whether the command can get a refusal (exit code 7).
    """
    by_code: dict[int, list[str]] = {}
    for status, code in EXIT_CODES.items():
        by_code.setdefault(code, []).append(status.name)
    lines = ["0  success", f"2  usage: {usage}"]
    lines += [f"{code}  {' or '.join(names)}" for code, names in sorted(by_code.items())]
    if refused:
        lines.append(f"{EXIT_REFUSED}  the server refused the request")
    lines.append(f"{EXIT_OTHER}  any other error")
    return "\b\nExit codes:\n" + "\n".join("  " + line for line in lines)


def exit_code(error: ClientError) -> int:
    """The process exit code for a failed call."""
    if error.code is None:
        return EXIT_REFUSED
    return EXIT_CODES.get(error.code, EXIT_OTHER)


def client_options(function: F) -> F:
    """``--target``, ``--token``, ``--timeout`` and ``--tls-ca``, turned into a ``client``."""

    @click.option("--target", default="localhost:5000", show_default=True, help="HOST:PORT")
    @click.option(
        "--token", envvar="DRUCKER_MANAGEMENT_TOKEN", help="Management token (or the env var)."
    )
    @click.option("--timeout", default=30.0, show_default=True, help="Seconds per call.")
    @click.option("--tls-ca", type=click.Path(exists=True), help="CA certificate: use TLS.")
    @functools.wraps(function)
    def wrapper(
        target: str, token: str | None, timeout: float, tls_ca: str | None, **kwargs: Any
    ) -> Any:
        with Client(target, token=token, timeout=timeout, tls=tls_ca or False) as client:
            try:
                return function(client=client, **kwargs)
            except ClientError as error:
                click.echo(f"drucker: {error}", err=True)
                sys.exit(exit_code(error))

    return wrapper  # type: ignore[return-value]
