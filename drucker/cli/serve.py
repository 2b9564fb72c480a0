"""``drucker serve``: run a model service in the foreground."""

from __future__ import annotations

import sys

import click

from drucker.cli.engines import model_in_directory, seldon_ports
from drucker.errors import ConfigurationError, InvalidNameError
from drucker.plugins import DISABLE_PREFIX
from drucker.server.lifecycle import run
from drucker.server.model_set import parse_model_arguments
from drucker.server.options import ServeOptions


def _plugins(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str | None, tuple[str, ...]]:
    """Split ``-p`` values into the model plugin and the ``no:NAME`` disabled plugins."""
    disabled = tuple(v[len(DISABLE_PREFIX) :] for v in values if v.startswith(DISABLE_PREFIX))
    named = [v for v in values if not v.startswith(DISABLE_PREFIX)]
    if len(named) > 1:
        raise click.BadParameter(f"one model plugin, not {len(named)}: {', '.join(named)}")
    if any(not name for name in disabled):
        raise click.BadParameter("no: needs a plugin name, as in -p no:jsonlog")
    return (named[0] if named else None), disabled


@click.command()
@click.option(
    "--plugin",
    "-p",
    "plugins",
    metavar="PLUGIN",
    multiple=True,
    callback=_plugins,
    help="The model plugin: a module name (also in the current directory), a .py file or an "
    "entry point of the 'drucker.models' group. `-p no:NAME` (repeatable) disables the "
    "automatically loaded plugin NAME of the 'drucker.plugins' group, e.g. no:jsonlog.",
)
@click.option(
    "--settings",
    "-s",
    "settings_file",
    metavar="FILE",
    envvar="DRUCKER_SETTINGS_YAML",
    show_envvar=True,
    help="settings.yml (default: built-in defaults).",
)
@click.option(
    "--model",
    "-m",
    "model_files",
    metavar="[NAME=]FILE|URL",
    multiple=True,
    help="The model file to load: a path, or a store URL (s3://bucket/key.joblib, gs://…); "
    "the model store's last switch wins over it unless --force-model. NAME=FILE (repeatable) "
    "serves each file as the model NAME, in one server.",
)
@click.option(
    "--force-model",
    is_flag=True,
    help="Serve --model even when the model store remembers a switch to another model.",
)
@click.option(
    "--model-sha256",
    metavar="HEX",
    help="Refuse to serve the --model file unless its bytes have this sha256.",
)
@click.option(
    "--model-dir",
    "--model_dir",
    metavar="DIR",
    help="Serve the model file in DIR (KServe's storage initializer's /mnt/models): the file "
    "of the bundled model's name, or the only file there; wins over --model. An empty, "
    "missing or ambiguous DIR: the server starts not ready, saying why.",
)
@click.option(
    "--model-name",
    "--model_name",
    metavar="NAME",
    help="The name the model serves under (app.name; the InferenceService's name on KServe).",
)
@click.option(
    "--port",
    "--grpc_port",
    "port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free; default: $SELDON_SERVER_GRPC_PORT, else app.port).",
)
@click.option("--host", help="Address to listen on (default [::], every interface).")
@click.option(
    "--http-port",
    "--http_port",
    "http_port",
    type=click.IntRange(0, 65535),
    help="V2 REST port (default: $SELDON_SERVER_HTTP_PORT, else http.port, 8080; 0: off).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Port of /metrics, /livez and /readyz (default: metrics.port, 8082; 0: off).",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="Server processes sharing the port (default: app.workers, 1).",
)
@click.option("--worker", is_flag=True, hidden=True, help="Run as one of several workers.")
@click.option("--not-ready", hidden=True, metavar="REASON", help="Serve no model, saying why.")
def serve(
    plugins: tuple[str | None, tuple[str, ...]],
    settings_file: str | None,
    model_files: tuple[str, ...],
    model_sha256: str | None,
    force_model: bool,
    model_dir: str | None,
    model_name: str | None,
    port: int | None,
    host: str | None,
    http_port: int | None,
    metrics_port: int | None,
    workers: int | None,
    worker: bool,
    not_ready: str | None,
) -> None:
    """Serve a plugin's model over gRPC until SIGTERM or SIGINT."""
    plugin, disabled = plugins
    try:
        model_file, named = parse_model_arguments(model_files)
    except InvalidNameError as error:
        raise click.UsageError(str(error)) from None
    if model_dir is not None and not_ready is None:
        try:
            model_file = model_in_directory(model_dir, model_file)
        except ConfigurationError as error:
            # The engine's download left nothing (or too much) to serve: up and not ready with
            # the reason in the readiness answers beats a crash loop that hides it.
            model_file, not_ready = None, str(error)
    if force_model and model_file is None and not_ready is None:
        raise click.UsageError("--force-model needs --model FILE")
    try:
        seldon_grpc, seldon_http = seldon_ports()
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    port = seldon_grpc if port is None else port
    http_port = seldon_http if http_port is None else http_port
    options = ServeOptions(
        plugin=plugin,
        disabled_plugins=disabled,
        settings_file=settings_file,
        model_file=model_file,
        models=tuple(named.items()),
        model_sha256=model_sha256,
        port=port,
        host=host,
        http_port=http_port,
        metrics_port=metrics_port,
        workers=workers,
        worker=worker,
        force_model=force_model,
        model_name=model_name,
        not_ready=not_ready,
    )
    sys.exit(run(options))
