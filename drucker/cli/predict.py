"""``drucker predict``: one prediction from the command line, printed as JSON."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import click

from drucker.cli._client import client_options, exit_codes_help
from drucker.client import Client
from drucker.kinds import Kind

KIND_NAMES = [kind.value for kind in Kind]
_ARRAY_HINT = "ArrInt, ArrFloat or ArrString"


def _read_input(value: str | None, file: str | None) -> str | bytes:
    """The argument's text, or the file's (or standard input's) bytes."""
    if value is not None and file is not None:
        raise click.UsageError("give the input as an argument or with --file, not both")
    if value is None and file is None:
        raise click.UsageError("give the input as an argument, or --file PATH (- for stdin)")
    if file is None:
        assert value is not None
        return value
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        with open(file, "rb") as stream:
            return stream.read()
    except OSError as error:
        raise click.UsageError(f"cannot read --file {file}: {error.strerror}") from None


def _scalar_refusal(text: str, parsed: Any) -> click.UsageError:
    """Why a JSON number, boolean or null is not sent, and what to write instead."""
    shown = text.strip()
    if parsed is None:
        what = "null, not a value"
    elif isinstance(parsed, bool):
        what = "a single boolean"
    else:
        what = "a single number"
    return click.UsageError(
        f"{shown} is {what}, and no input kind carries one: "
        f"write an array ('[{shown}]') for ArrInt or ArrFloat input, "
        f"or --input-kind String to send the text {shown!r}"
    )


def interpret_input(data: str | bytes, raw: bool, input_kind: Kind | None) -> Any:
    """The value to send for the user's input, taken as they evidently meant it.

    ``--raw`` or ``Bytes`` sends the bytes; ``String`` sends the text literally; an array kind
    reads JSON (one value becomes a one-element array). Without a kind, JSON arrays and strings
    go as themselves, a JSON object and text that is not JSON go as text (``String``), and a
    lone number, boolean or null is refused with a hint.

    :raises click.UsageError: for input no kind can carry.
    """
    if raw or input_kind is Kind.BYTES:
        return data.encode("utf-8") if isinstance(data, str) else data
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise click.UsageError("the input is not UTF-8 text: send it with --raw") from None
    if input_kind is Kind.STRING:
        return data
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as error:
        if input_kind is not None:
            raise click.UsageError(f"--input-kind {input_kind.value} reads JSON: {error}") from None
        return data  # plain text is a String input
    if input_kind is not None:  # an array kind
        if isinstance(parsed, dict) or parsed is None:
            raise click.UsageError(f"--input-kind {input_kind.value} needs a JSON array")
        return parsed if isinstance(parsed, list) else [parsed]
    if isinstance(parsed, str | list):
        if parsed == []:
            raise click.UsageError(f"an empty array needs --input-kind ({_ARRAY_HINT})")
        return parsed
    if isinstance(parsed, dict):
        return data  # a JSON document travels as text, as typed
    raise _scalar_refusal(data, parsed)


def _option(option_json: str | None) -> dict[str, Any] | None:
    if not option_json:
        return None
    try:
        option = json.loads(option_json)
    except json.JSONDecodeError as error:
        raise click.UsageError(f"--option is not JSON: {error}") from None
    if not isinstance(option, dict):
        raise click.UsageError("--option must be a JSON object, e.g. '{\"key\": 1}'")
    return option


def _printable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _infer_v2(client: Client, text: str | bytes) -> dict[str, Any]:
    """V2 inference of the JSON rows in ``text`` (one row, or an array of rows)."""
    import numpy as np

    try:
        rows = np.asarray(json.loads(text))
    except ValueError as error:
        raise click.UsageError(f"--protocol v2 takes a JSON array of rows: {error}") from None
    if rows.ndim == 0 or rows.dtype.kind not in "biufU":
        raise click.UsageError(
            "--protocol v2 takes a JSON array of numbers or texts, e.g. '[[1, 2]]'"
        )
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.dtype.kind == "f":
        rows = rows.astype(np.float64)
    try:
        outputs = client.infer(rows)
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    return {name: _jsonable(_values(array)) for name, array in outputs.items()}


def _values(array: Any) -> Any:
    """Nested lists of ``array``'s values; float32 ones at their own precision (0.98165685,
    not 0.9816568493843079)."""
    import numpy as np

    if array.dtype == np.float32:
        return np.vectorize(lambda v: float(str(v)), otypes=[object])(array).tolist()
    return array.tolist()


def _jsonable(value: Any) -> Any:
    """Nested lists with bytes made printable (text, or base64)."""
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return _printable(value)


@click.command(epilog=exit_codes_help(usage="bad options, or an input no kind can carry"))
@click.argument("value", required=False)
@click.option("--file", "-f", metavar="PATH", help="Read the input from a file ('-': stdin).")
@click.option("--raw", is_flag=True, help="Send the input as raw bytes (a Bytes rpc).")
@click.option(
    "--output",
    "-o",
    type=click.Choice(KIND_NAMES),
    help="The output kind (default: from the model's signature, else String).",
)
@click.option(
    "--input-kind",
    type=click.Choice(KIND_NAMES),
    help="Force the input kind (String: the text as it is; Arr*: JSON, one value or an array).",
)
@click.option("--option", "option_json", metavar="JSON", help="The request option object.")
@click.option(
    "--protocol",
    type=click.Choice(["drucker", "v2"]),
    default="drucker",
    show_default=True,
    help="drucker: one input over the Drucker protocol (ArrFloat is 32-bit); v2: Open Inference "
    "tensors, one row or many (a JSON array of rows), FP64 exact.",
)
@client_options
def predict(
    client: Client,
    value: str | None,
    file: str | None,
    raw: bool,
    output: str | None,
    input_kind: str | None,
    option_json: str | None,
    protocol: str,
) -> None:
    """Send one input and print the answer as JSON.

    VALUE is a JSON array (e.g. '[5.1, 3.5, 1.4, 0.2]' is an ArrFloat input), a JSON string or
    object, or plain text (the last three are String inputs).
    """
    if protocol == "v2":
        if raw or input_kind or output or option_json:
            raise click.UsageError(
                "--raw, --input-kind, --output and --option go with --protocol drucker"
            )
        click.echo(json.dumps(_infer_v2(client, _read_input(value, file))))
        return
    kind = Kind(input_kind) if input_kind else None
    if raw and kind not in (None, Kind.BYTES):
        raise click.UsageError(f"--raw sends Bytes, not {kind.value}")
    payload = interpret_input(_read_input(value, file), raw, kind)
    option = _option(option_json)
    output_kind = Kind(output) if output else client.output_kind()
    try:
        result = client.predict(payload, output=output_kind, option=option, input_kind=kind)
    except (TypeError, ValueError) as error:  # the value does not fit the kind
        raise click.UsageError(str(error)) from None
    answer = {
        "label": _printable(result.label),
        "score": result.score,
        "option": result.option,
    }
    click.echo(json.dumps(answer))
