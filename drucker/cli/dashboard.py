"""``drucker dashboard``: the management web service, and ``create-user`` for its first admin."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from drucker.errors import ConfigurationError

F = TypeVar("F", bound=Callable[..., Any])


def _settings_options(function: F) -> F:
    @click.option(
        "--settings",
        "-s",
        "settings_file",
        metavar="FILE",
        help="Settings YAML with dashboard.* keys (default: $DRUCKER_DASHBOARD_SETTINGS).",
    )
    @click.option(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db (default: SQLite in the data dir).",
    )
    @click.option("--data-dir", metavar="DIR", help="Where the SQLite file and secret key live.")
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _load(settings_file: str | None, **overrides: Any) -> Any:
    try:
        from drucker.dashboard.config import load_dashboard_settings
    except ImportError as error:  # the extra is not installed
        raise click.ClickException(
            f"the dashboard needs its extra: pip install 'drucker[dashboard]' ({error})"
        ) from None
    try:
        return load_dashboard_settings(settings_file, overrides=overrides)
    except ConfigurationError as error:  # a bad setting is a usage error, as for drucker serve
        click.echo(f"drucker dashboard: {error}", err=True)
        sys.exit(2)


@click.group(invoke_without_command=True)
@_settings_options
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default 18080).")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--tls-cert", type=click.Path(exists=True), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(exists=True), help="PEM private key of --tls-cert.")
@click.pass_context
def dashboard(
    context: click.Context,
    settings_file: str | None,
    database: str | None,
    data_dir: str | None,
    port: int | None,
    host: str | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Run the dashboard web service (migrations are applied at start)."""
    if context.invoked_subcommand is not None:
        context.obj = {"settings_file": settings_file, "database": database, "data_dir": data_dir}
        return
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    settings = _load(settings_file, database=database, data_dir=data_dir, port=port, host=host)
    import uvicorn

    from drucker.dashboard import create_app

    app = create_app(settings, https=bool(tls_cert))
    click.echo(
        f"drucker dashboard on {'https' if tls_cert else 'http'}://{settings.host}:{settings.port}",
        err=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level="warning",
        access_log=False,
    )


@dashboard.command("create-user")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["admin", "editor", "viewer"]), default="viewer", show_default=True
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (else one is generated)."
)
@_settings_options
@click.pass_context
def create_user(
    context: click.Context,
    name: str,
    role: str,
    password_stdin: bool,
    settings_file: str | None,
    database: str | None,
    data_dir: str | None,
) -> None:
    """Add a user NAME; the password is read from stdin, or generated and printed once."""
    parent = context.obj or {}
    settings = _load(
        settings_file or parent.get("settings_file"),
        database=database or parent.get("database"),
        data_dir=data_dir or parent.get("data_dir"),
    )
    from drucker.dashboard import accounts, audit, security
    from drucker.dashboard.db import Database

    stdin_given = password_stdin or not sys.stdin.isatty()
    password = sys.stdin.readline().rstrip("\r\n") if stdin_given else ""
    generated = not password
    if generated:
        password = security.new_password()
    db = Database(settings.database_url)
    try:
        db.migrate()
        with db.session() as session:
            accounts.create_user(session, name, role, password)
            audit.record(session, "(command line)", "add user", target=name, after=role)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.close()
    click.echo(f"created {role} {name}", err=True)
    if generated:
        click.echo(password)
