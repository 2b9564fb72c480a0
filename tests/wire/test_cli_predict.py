"""`drucker predict` takes input as the user meant it, never shows a traceback, and asks for
the output kind the model's signature names, against real servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from drucker.cli import main
from drucker.cli._client import EXIT_CODES, EXIT_OTHER
from drucker.client import Client, Kind, output_kind_of
from drucker.client.aio import AsyncClient
from tests.conftest import ECHO_PLUGIN, REPO
from tests.serving import ThreadedServer, free_port

TYPED_ECHO_PLUGIN = str(REPO / "tests" / "plugins" / "typed_echo_plugin.py")


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory, echo_model: Path) -> Iterator[ThreadedServer]:
    workdir = tmp_path_factory.mktemp("predict-echo")
    with ThreadedServer(ECHO_PLUGIN, str(echo_model), workdir=workdir) as server:
        yield server


def typed_echo(tmp_path: Path, label_datatype: str, **settings: object) -> ThreadedServer:
    """The echo plugin with a signature whose label tensor has ``label_datatype``."""
    model = tmp_path / "typed.model"
    model.write_text(label_datatype)
    return ThreadedServer(TYPED_ECHO_PLUGIN, str(model), settings, workdir=tmp_path)


def predict(*args: str, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(main, ["predict", *args], input=stdin)
    # Only SystemExit (click's exit codes) may end the command; anything else is a crash.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def answer(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


# -- input taken as meant ----------------------------------------------------------------------


def test_a_lone_number_is_refused_with_what_to_write_instead(echo: ThreadedServer) -> None:
    result = predict("123", "--target", echo.target)
    assert result.exit_code == 2
    assert "123 is a single number" in result.stderr
    assert "'[123]'" in result.stderr and "--input-kind String" in result.stderr


@pytest.mark.parametrize(("value", "what"), [("null", "null, not a value"), ("true", "boolean")])
def test_null_and_booleans_are_refused(echo: ThreadedServer, value: str, what: str) -> None:
    result = predict(value, "--target", echo.target)
    assert result.exit_code == 2
    assert what in result.stderr


def test_a_json_object_is_sent_as_the_text_typed(echo: ThreadedServer) -> None:
    assert answer(predict('{"text": "hi"}', "--target", echo.target))["label"] == '{"text": "hi"}'


def test_a_json_string_is_text(echo: ThreadedServer) -> None:
    assert answer(predict('"hi there"', "--target", echo.target))["label"] == "hi there"


def test_input_kind_string_takes_the_text_literally(echo: ThreadedServer) -> None:
    number = predict("--input-kind", "String", "123", "--target", echo.target)
    assert answer(number)["label"] == "123"
    literal = predict("--input-kind", "String", "[1, 2]", "--target", echo.target)
    assert answer(literal)["label"] == "[1, 2]"


def test_an_array_kind_makes_one_value_a_one_element_array(echo: ThreadedServer) -> None:
    result = predict("--input-kind", "ArrFloat", "5", "-o", "ArrFloat", "--target", echo.target)
    assert answer(result)["label"] == [5.0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--input-kind", "ArrInt", '["a"]'), "cannot send this input as ArrInt"),
        (("--input-kind", "ArrInt", "1.5x"), "--input-kind ArrInt reads JSON"),
        (("--input-kind", "ArrFloat", '{"a": 1}'), "needs a JSON array"),
        (("[]",), "an empty array needs --input-kind"),
        (("[[1, 2]]",), "a sequence input must hold only"),
        (("--raw", "--input-kind", "String", "x"), "--raw sends Bytes, not String"),
        (("[1]", "--option", "5"), "--option must be a JSON object"),
        (("[1]", "--option", "{"), "--option is not JSON"),
        (("--file", "/no/such/input.json"), "cannot read --file /no/such/input.json"),
    ],
)
def test_input_no_kind_can_carry_is_a_usage_error(
    echo: ThreadedServer, args: tuple[str, ...], expected: str
) -> None:
    result = predict(*args, "--target", echo.target)
    assert result.exit_code == 2
    assert expected in result.stderr


def test_input_that_is_not_utf_8_needs_raw(echo: ThreadedServer) -> None:
    result = predict("-f", "-", "--target", echo.target, stdin=b"\xff\xfe")
    assert result.exit_code == 2 and "not UTF-8 text: send it with --raw" in result.stderr
    raw = predict("-f", "-", "--raw", "-o", "Bytes", "--target", echo.target, stdin=b"\xff\xfe")
    assert answer(raw)["label"] == {"base64": "//4="}


def test_a_real_process_prints_no_traceback(echo: ThreadedServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drucker", "predict", "null", "--target", echo.target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "null, not a value" in result.stderr and "Traceback" not in result.stderr


# -- the output kind follows the signature ------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "label"),
    [
        ("FP64", [1.0, 2.0]),
        ("FP32", [1.0, 2.0]),
        ("INT64", [1, 2]),
        ("UINT8", [1, 2]),
        ("BYTES", "1,2"),
        ("BOOL", "1,2"),  # no kind of its own: String
    ],
)
def test_output_defaults_to_the_signature(tmp_path: Path, datatype: str, label: object) -> None:
    with typed_echo(tmp_path, datatype) as server:
        result = answer(predict("1,2", "--target", server.target))
    assert result["label"] == label
    assert type(result["label"]) is type(label)
    if isinstance(label, list):
        assert all(type(value) is type(label[0]) for value in result["label"])  # type: ignore[attr-defined]


def test_both_clients_read_the_signature(tmp_path: Path) -> None:
    async def read_async(target: str) -> object:
        async with AsyncClient(target) as client:
            return await client.signature()

    with typed_echo(tmp_path, "INT32") as server, Client(server.target) as client:
        signature = client.signature()
        assert asyncio.run(read_async(server.target)) == signature
    assert [(t.name, t.datatype, t.shape) for t in signature.outputs] == [
        ("label", "INT32", (-1, -1)),
        ("score", "FP32", (-1, -1)),
    ]
    assert output_kind_of(signature) is Kind.ARR_INT
    assert [(t.name, t.content_type) for t in signature.inputs] == [("input", "str")]


def test_the_sdk_follows_the_signature_and_a_switch_to_another_kind(tmp_path: Path) -> None:
    async def predict_async(target: str) -> object:
        async with AsyncClient(target) as client:
            return (await client.predict("1,2")).label

    token = "kind-token"
    with typed_echo(tmp_path, "FP64", management_token=token) as server:
        with Client(server.target, token=token) as client:
            assert client.predict("1,2").label == [1.0, 2.0]  # it raised InvalidArgument
            assert asyncio.run(predict_async(server.target)) == [1.0, 2.0]
            integer = tmp_path / "integer.model"
            integer.write_text("INT64")
            client.upload_model(integer, "integer.model")
            client.switch_model("integer.model")
            assert client.predict("1,2").label == [1, 2]
            assert client.predict("1,2", output=Kind.STRING).label == "1,2"


def test_an_explicit_output_wins_over_the_signature(tmp_path: Path) -> None:
    with typed_echo(tmp_path, "FP64") as server:
        result = answer(predict("1,2", "-o", "ArrString", "--target", server.target))
    assert result["label"] == ["1", "2"]


def test_output_is_string_when_the_server_offers_no_signature(tmp_path: Path) -> None:
    # ServiceInfo needs the token here, so the model's name (and its metadata) stay unknown.
    with typed_echo(tmp_path, "FP64", protect_service_info=True) as server:
        result = answer(predict("1,2", "--target", server.target))
    assert result["label"] == "1,2"


def test_an_unreachable_server_is_exit_4_without_a_signature() -> None:
    result = predict("[1.0]", "--target", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.exit_code == 4 and "UNAVAILABLE" in result.stderr


# -- help ---------------------------------------------------------------------------------------


def test_help_lists_every_exit_code() -> None:
    result = predict("--help")
    assert result.exit_code == 0
    listed = {
        int(line.split()[0])
        for line in result.stdout.split("Exit codes:")[1].splitlines()
        if line.strip()
    }
    assert listed == {0, 2, EXIT_OTHER, *EXIT_CODES.values()}
