"""``drucker model`` and ``drucker evaluate``: manage the models of a running server."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import attrs
import click
import grpc

from drucker.cli._client import client_options, exit_codes_help
from drucker.client import Client
from drucker.client.errors import ServerError

MANAGEMENT_EXIT_CODES = exit_codes_help(usage="bad options", refused=True)


def _upload_with_progress(client: Client, path: Path, name: str, data: bool = False) -> str:
    total = path.stat().st_size
    stderr = sys.stderr
    with click.progressbar(length=total, label=f"uploading {path.name}", file=stderr) as bar:
        done = 0

        def advance(sent: int, _total: int) -> None:
            nonlocal done
            bar.update(sent - done)
            done = sent

        if data:
            return client.upload_evaluation_data(path, name, progress=advance)
        return client.upload_model(path, name, progress=advance)


@click.group()
def model() -> None:
    """Upload, switch, list and delete the models of a running server."""


@model.command(epilog=MANAGEMENT_EXIT_CODES)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Name in the model store (default: the file name).")
@client_options
def upload(client: Client, file: Path, name: str | None) -> None:
    """Upload FILE to the server's model store."""
    click.echo(_upload_with_progress(client, file, name or file.name))


@model.command(epilog=MANAGEMENT_EXIT_CODES)
@click.argument("name")
@client_options
def switch(client: Client, name: str) -> None:
    """Make the stored model NAME serve (the old one serves until it is loaded)."""
    click.echo(client.switch_model(name))


@model.command(epilog=MANAGEMENT_EXIT_CODES)
@client_options
def rollback(client: Client) -> None:
    """Switch back to the model that served before the last switch."""
    click.echo(client.rollback_model())


@model.command(epilog=MANAGEMENT_EXIT_CODES)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per switch.")
@client_options
def history(client: Client, as_json: bool) -> None:
    """List the switches of the model store, oldest first: when, from, to, result, by whom."""
    for event in client.model_history():
        if as_json:
            click.echo(json.dumps(attrs.asdict(event)))
            continue
        when = datetime.datetime.fromtimestamp(event.at, datetime.UTC)
        before = f"{event.from_name} ({event.from_sha256[:12]})" if event.from_name else "-"
        click.echo(
            f"{when.isoformat(timespec='seconds')}\t{before} -> {event.to_name} "
            f"({event.to_sha256[:12]})\t{event.result}\t{event.by}"
        )


@model.command(epilog=MANAGEMENT_EXIT_CODES)
@click.argument("name")
@client_options
def delete(client: Client, name: str) -> None:
    """Delete the stored model NAME (the serving model is refused: exit code 7)."""
    click.echo(client.delete_model(name))


@model.command(name="list", epilog=MANAGEMENT_EXIT_CODES)
@client_options
def list_models(client: Client) -> None:
    """List the stored versions of the model under a header line; '*' marks the one serving.
    On a server of several models, first every model of the server (MODEL, STATE, serving
    VERSION, under its own header line) unless --model-name names one."""
    if client.model is None:
        _list_served(client)
    models, serving = client.list_models()
    click.echo("  NAME\tBYTES\tSHA256\tUPLOADED (UTC)")
    for stored in models:
        mark = "*" if stored.name == serving else " "
        when = datetime.datetime.fromtimestamp(stored.uploaded_at, datetime.UTC)
        click.echo(
            f"{mark} {stored.name}\t{stored.size}\t{stored.sha256[:16]}\t"
            f"{when.isoformat(timespec='seconds')}"
        )
    if serving and serving not in {m.name for m in models}:
        click.echo(f"* {serving}\t(the start-up model, not in the store)")


def _list_served(client: Client) -> None:
    """The server's models (its repository index), then a blank line; nothing for a server of
    one model (its output stays as it was) or without the repository extension (0.4.5)."""
    try:
        rows = client.repository_index()
    except ServerError as error:
        if error.code is grpc.StatusCode.UNIMPLEMENTED:
            return
        raise
    if len(rows) < 2:
        return
    click.echo("MODEL\tSTATE\tVERSION\tREASON")
    for row in rows:
        click.echo(f"{row.name}\t{row.state}\t{row.version or '-'}\t{row.reason}")
    click.echo()


@click.group()
def data() -> None:
    """Manage the evaluation data stored on a running server."""


@data.command(name="delete", epilog=MANAGEMENT_EXIT_CODES)
@click.argument("name")
@client_options
def delete_data(client: Client, name: str) -> None:
    """Delete the stored evaluation data NAME."""
    click.echo(client.delete_evaluation_data(name))


@click.command()
@click.argument("data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Name of the data on the server (default: the file name).")
@click.option("--result", help="Name of the stored result (default: <name>.result).")
@client_options
def evaluate(client: Client, data_file: Path, name: str | None, result: str | None) -> None:
    """Upload DATA_FILE, evaluate the serving model on it and print the metrics as JSON."""
    data_name = name or data_file.name
    _upload_with_progress(client, data_file, data_name, data=True)
    metrics = client.evaluate(data_name, result)
    per_class = {
        label: {"precision": p, "recall": r, "f1": f}
        for label, p, r, f in zip(
            metrics.labels, metrics.precision, metrics.recall, metrics.f1, strict=True
        )
    }
    report = {"num": metrics.num, "accuracy": metrics.accuracy, "classes": per_class}
    click.echo(json.dumps({**report, **metrics.option}, indent=2))
