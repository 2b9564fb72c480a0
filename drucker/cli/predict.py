"""``drucker predict``: one prediction from the command line, printed as JSON."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import click

from drucker.cli._client import client_options
from drucker.client import Client
from drucker.kinds import Kind

KIND_NAMES = [kind.value for kind in Kind]


def _read_input(value: str | None, file: str | None, raw: bool) -> Any:
    if value is not None and file is not None:
        raise click.UsageError("give the input as an argument or with --file, not both")
    if value is None and file is None:
        raise click.UsageError("give the input as an argument, or --file PATH (- for stdin)")
    if file is not None:
        stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
        with stream:
            data = stream.read()
        if raw:
            return data
        text = data.decode("utf-8")
    else:
        assert value is not None
        if raw:
            return value.encode("utf-8")
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # plain text is a String input


def _printable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    return value


@click.command()
@click.argument("value", required=False)
@click.option("--file", "-f", metavar="PATH", help="Read the input from a file ('-': stdin).")
@click.option("--raw", is_flag=True, help="Send the input as raw bytes (a Bytes rpc).")
@click.option("--output", "-o", type=click.Choice(KIND_NAMES), default="String", show_default=True)
@click.option("--input-kind", type=click.Choice(KIND_NAMES), help="Force the input kind.")
@click.option("--option", "option_json", metavar="JSON", help="The request option object.")
@client_options
def predict(
    client: Client,
    value: str | None,
    file: str | None,
    raw: bool,
    output: str,
    input_kind: str | None,
    option_json: str | None,
) -> None:
    """Send one input and print the answer as JSON.

    VALUE is JSON (e.g. '[5.1, 3.5, 1.4, 0.2]' is an ArrFloat input) or plain text (a String
    input). Exit codes: 0 ok, 2 usage, 3 invalid argument, 4 unavailable, 5 unauthenticated,
    6 not found, 8 any other error.
    """
    payload = _read_input(value, file, raw)
    try:
        option = json.loads(option_json) if option_json else None
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"--option is not JSON: {exc}") from None
    result = client.predict(payload, output=output, option=option, input_kind=input_kind)
    answer = {
        "label": _printable(result.label),
        "score": result.score,
        "option": result.option,
    }
    click.echo(json.dumps(answer))
