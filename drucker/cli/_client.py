"""Options and error handling shared by the commands that talk to a running server."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc

from drucker.cli._target import target_option
from drucker.client import Client, ClientError

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_ENV = "DRUCKER_MANAGEMENT_TOKEN"
MODEL_NAME_ENV = "DRUCKER_MODEL_NAME"
TOKEN_FILE_ENV = "DRUCKER_MANAGEMENT_TOKEN_FILE"
SETTINGS_ENV = "DRUCKER_SETTINGS_YAML"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "[::]"})

# Exit codes: 0 success, 2 usage, then one per family of gRPC errors.
EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: 3,
    grpc.StatusCode.UNAVAILABLE: 4,
    grpc.StatusCode.DEADLINE_EXCEEDED: 4,
    grpc.StatusCode.UNAUTHENTICATED: 5,
    grpc.StatusCode.PERMISSION_DENIED: 5,
    grpc.StatusCode.NOT_FOUND: 6,
    grpc.StatusCode.FAILED_PRECONDITION: 7,
}
EXIT_REFUSED = 7  # a management call answered with status 0, or FAILED_PRECONDITION
EXIT_OTHER = 8


def exit_codes_help(usage: str, refused: bool = False) -> str:
    """The "Exit codes" paragraph of a command's help, from the table above.

    :param usage: what exit code 2 means for the command.
    :param refused: whether the command can get a refusal (exit code 7).
    """
    by_code: dict[int, list[str]] = {}
    for status, code in EXIT_CODES.items():
        by_code.setdefault(code, []).append(status.name)
    if refused:
        by_code.setdefault(EXIT_REFUSED, []).append("the server refused the request")
    lines = ["0  success", f"2  usage: {usage}"]
    lines += [f"{code}  {' or '.join(names)}" for code, names in sorted(by_code.items())]
    lines.append(f"{EXIT_OTHER}  any other error")
    return "\b\nExit codes:\n" + "\n".join("  " + line for line in lines)


def exit_code(error: ClientError) -> int:
    """The process exit code for a failed call."""
    if error.code is None:
        return EXIT_REFUSED
    return EXIT_CODES.get(error.code, EXIT_OTHER)


def is_local(target: str) -> bool:
    """Whether ``target`` names this machine (only then is a local token file read)."""
    host = target.rpartition(":")[0] if ":" in target else target
    return host in LOCAL_HOSTS


def _token_file_candidates(settings_file: str | None, served_name: str | None = None) -> list[Path]:
    """Where a local server keeps its generated token, by the settings it runs with.

    ``served_name`` is the application name the server reports (``ServiceInfo``): the server's
    ``app.name`` may come from its own environment, which this process does not share, and the
    token file lives under that name's model store.
    """
    from drucker.errors import DruckerError
    from drucker.settings import load_settings

    files: list[str | None] = [settings_file]
    if settings_file is None:
        files = ["settings.yml"] if Path("settings.yml").is_file() else []
        files.append(None)  # the built-in defaults
    names: list[str | None] = [served_name, None] if served_name else [None]
    found = []
    for path in files:
        for name in names:
            overrides = {"application_name": name} if name else None
            try:
                found.append(load_settings(path, overrides=overrides).token_file)
            except DruckerError:
                continue
    return list(dict.fromkeys(found))


def _served_application(target: str, tls_ca: str | None, timeout: float) -> str | None:
    """The application name a server reports, or ``None`` when it does not say (down, or
    ``ServiceInfo`` protected)."""
    try:
        with Client(target, timeout=min(timeout, 3.0), tls=tls_ca or False) as probe:
            return probe.service_info().application_name or None
    except ClientError:
        return None


def find_token(
    token: str | None,
    token_file: str | None,
    settings_file: str | None,
    target: str,
    served_name: Callable[[], str | None] = lambda: None,
) -> tuple[str | None, list[str]]:
    """The management token and, in words, every place that was looked at.

    ``--token`` (or ``$DRUCKER_MANAGEMENT_TOKEN``), else ``--token-file`` (or
    ``$DRUCKER_MANAGEMENT_TOKEN_FILE``), else, for a server on this machine, the token file of
    its settings (``--settings``, ``./settings.yml`` or the defaults) under the application
    name the server reports (``served_name``, asked only when it comes to that) and under
    this process's own.
    """
    context = click.get_current_context()
    source = context.get_parameter_source("token")
    if token:
        origin = "$" + TOKEN_ENV if source is click.core.ParameterSource.ENVIRONMENT else "--token"
        return token, [f"{origin} (used)"]
    tried = [f"--token and ${TOKEN_ENV}: not given"]
    candidates = [Path(token_file)] if token_file else []
    if not token_file:
        tried.append(f"--token-file and ${TOKEN_FILE_ENV}: not given")
        if is_local(target):
            candidates = _token_file_candidates(settings_file, served_name())
        else:
            tried.append(f"local token files: not read for a remote target ({target})")
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            tried.append(f"token file {path}: not found")
            continue
        except OSError as exc:
            tried.append(f"token file {path}: not readable ({exc.strerror})")
            continue
        if text:
            return text, [f"token file {path} (used)"]
        tried.append(f"token file {path}: empty")
    return None, tried


def client_options(function: F) -> F:
    """``--target``, ``--token``, ``--token-file``, ``--settings``, ``--timeout``,
    ``--attempt-timeout`` and ``--tls-ca``, turned into a ``client``."""

    @target_option
    @click.option(
        "--token",
        envvar=TOKEN_ENV,
        show_envvar=True,
        help="Management token (default: the token file of a local server).",
    )
    @click.option(
        "--token-file",
        envvar=TOKEN_FILE_ENV,
        show_envvar=True,
        metavar="FILE",
        help="File holding the management token (the path the server logs).",
    )
    @click.option(
        "--settings",
        "settings_file",
        envvar=SETTINGS_ENV,
        show_envvar=True,
        metavar="FILE",
        help="A local server's settings, to find its token file (default: ./settings.yml).",
    )
    @click.option("--timeout", default=30.0, show_default=True, help="Seconds per call.")
    @click.option(
        "--attempt-timeout",
        type=click.FloatRange(min=0, min_open=True),
        help="Seconds per attempt of a prediction or read, each retried after the server's "
        "pushback within --timeout (default: the attempts share --timeout).",
    )
    @click.option("--tls-ca", type=click.Path(exists=True), help="CA certificate: use TLS.")
    @click.option(
        "--model-name",
        envvar=MODEL_NAME_ENV,
        show_envvar=True,
        metavar="NAME",
        help="The model to act on, on a server of several models (default: its default model).",
    )
    @functools.wraps(function)
    def wrapper(
        target: str,
        token: str | None,
        token_file: str | None,
        settings_file: str | None,
        timeout: float,
        attempt_timeout: float | None,
        tls_ca: str | None,
        model_name: str | None,
        **kwargs: Any,
    ) -> Any:
        found, tried = find_token(
            token,
            token_file,
            settings_file,
            target,
            lambda: _served_application(target, tls_ca, timeout),
        )
        tls = tls_ca or False
        with Client(
            target,
            token=found,
            timeout=timeout,
            attempt_timeout=attempt_timeout,
            tls=tls,
            model=model_name,
        ) as client:
            try:
                return function(client=client, **kwargs)
            except ClientError as error:
                message = f"drucker: {error}"
                if error.code is grpc.StatusCode.UNAUTHENTICATED:
                    message += "\nmanagement token: " + "; ".join(tried)
                click.echo(message, err=True)
                sys.exit(exit_code(error))

    return wrapper  # type: ignore[return-value]
