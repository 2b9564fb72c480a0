"""``drucker serve``: run a model service in the foreground."""

from __future__ import annotations

import sys

import click

from drucker.server.lifecycle import ServeOptions, run


@click.command()
@click.option(
    "--plugin",
    "-p",
    metavar="MODULE_OR_FILE",
    help="The model plugin: a dotted module name, a .py file or a 'drucker' entry-point name.",
)
@click.option(
    "--settings",
    "-s",
    "settings_file",
    metavar="FILE",
    help="settings.yml (default: $DRUCKER_SETTINGS_YAML, else built-in defaults).",
)
@click.option("--model", "-m", "model_file", metavar="FILE", help="The model file to load.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (0: any free).")
@click.option("--host", help="Address to listen on (default [::], every interface).")
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="Server processes sharing the port (default: app.workers, 1).",
)
@click.option("--worker", is_flag=True, hidden=True, help="Run as one of several workers.")
def serve(
    plugin: str | None,
    settings_file: str | None,
    model_file: str | None,
    port: int | None,
    host: str | None,
    workers: int | None,
    worker: bool,
) -> None:
    """Serve a plugin's model over gRPC until SIGTERM or SIGINT."""
    options = ServeOptions(
        plugin=plugin,
        settings_file=settings_file,
        model_file=model_file,
        port=port,
        host=host,
        workers=workers,
        worker=worker,
    )
    sys.exit(run(options))
