"""``drucker repository``: the models of a server of several models, loading and unloading
them while it serves (the Open Inference Protocol's repository extension)."""

from __future__ import annotations

import json

import attrs
import click

from drucker.cli._client import client_options
from drucker.cli.model import MANAGEMENT_EXIT_CODES
from drucker.client import Client


@click.group()
def repository() -> None:
    """List, load and unload the models of a server."""


@repository.command(epilog=MANAGEMENT_EXIT_CODES)
@click.option("--ready", is_flag=True, help="Only the models that serve now.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of the models.")
@client_options
def index(client: Client, ready: bool, as_json: bool) -> None:
    """Every model of the server: NAME, serving VERSION, STATE and REASON."""
    models = client.repository_index(ready=ready)
    if as_json:
        click.echo(json.dumps([attrs.asdict(model) for model in models]))
        return
    click.echo("NAME\tVERSION\tSTATE\tREASON")
    for model in models:
        click.echo(f"{model.name}\t{model.version or '-'}\t{model.state}\t{model.reason}")


def _change(verb: str, done: str, doc: str) -> None:
    """Add the command ``verb NAME`` calling the client's ``<verb>_model``."""

    @repository.command(name=verb, epilog=MANAGEMENT_EXIT_CODES, help=doc)
    @click.argument("name")
    @client_options
    def command(client: Client, name: str) -> None:
        getattr(client, f"{verb}_model")(name)
        click.echo(f"model {name} {done}")


_change(
    "load",
    "is serving",
    "Load model NAME of the server's store and serve it (reload it when it serves).",
)
_change("unload", "is unloaded", "Stop serving model NAME (requests in flight on it finish).")
