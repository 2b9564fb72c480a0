"""`drucker predict`, `drucker model …` and `drucker evaluate` against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drucker.cli import main
from tests.serving import ThreadedServer, free_port

TOKEN = "cli-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[ThreadedServer]:
    settings = {"management_token": TOKEN}
    workdir = tmp_path_factory.mktemp("cli")
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=workdir) as server:
        yield server


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_predict_from_an_argument(server: ThreadedServer) -> None:
    code, out, _ = run("predict", "[5.1, 3.5, 1.4, 0.2]", "--target", server.target)
    assert code == 0
    answer = json.loads(out)
    assert answer["label"] == "setosa" and 0.5 < answer["score"] <= 1
    code, out, _ = run(
        "predict", "[6.4, 3.2, 4.5, 1.5]", "-o", "ArrString", "--target", server.target
    )
    assert json.loads(out)["label"][0] == "versicolor"


def test_predict_from_stdin_and_a_file(server: ThreadedServer, tmp_path: Path) -> None:
    code, out, _ = run(
        "predict", "-f", "-", "--raw", "--target", server.target, stdin=b"7.7,3.0,6.1,2.3"
    )
    assert code == 0 and json.loads(out)["label"] == "virginica"
    data = tmp_path / "row.json"
    data.write_text("[5.1, 3.5, 1.4, 0.2]")
    code, out, _ = run("predict", "--file", str(data), "--target", server.target)
    assert json.loads(out)["label"] == "setosa"


def test_exit_codes_follow_the_status(server: ThreadedServer) -> None:
    code, _, err = run("predict", "[1, 2]", "--target", server.target)
    assert code == 3 and "INVALID_ARGUMENT" in err
    code, _, err = run("predict", "[1.0]", "--target", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert code == 4 and "UNAVAILABLE" in err
    code, _, err = run("model", "list", "--target", server.target)
    assert code == 5 and "UNAUTHENTICATED" in err
    code, _, _ = run("predict", "--target", server.target)
    assert code == 2


def test_model_commands(server: ThreadedServer, iris_model: Path) -> None:
    auth = ["--target", server.target, "--token", TOKEN]
    code, out, _ = run("model", "upload", str(iris_model), "--name", "v2.joblib", *auth)
    assert code == 0 and "Success" in out
    code, out, _ = run("model", "switch", "v2.joblib", *auth)
    assert code == 0 and "v2.joblib is serving" in out
    code, out, _ = run("model", "list", *auth)
    header, first = out.splitlines()[:2]
    assert code == 0 and header.split("\t") == ["  NAME", "BYTES", "SHA256", "UPLOADED (UTC)"]
    assert first.startswith("  iris.joblib")  # the start model, kept when the switch left it
    assert "* v2.joblib" in out
    code, _, err = run("model", "switch", "nope.joblib", *auth)
    assert code == 7 and "no model named" in err


def test_evaluate_prints_metrics(server: ThreadedServer, tmp_path: Path) -> None:
    from tests.datasets import write_iris_csv

    data = write_iris_csv(tmp_path / "iris.csv")
    code, out, err = run("evaluate", str(data), "--target", server.target, "--token", TOKEN)
    assert code == 0, err
    report = json.loads(out)
    assert report["num"] == 150
    assert set(report["classes"]) == {"setosa", "versicolor", "virginica"}
    assert 0.9 < report["accuracy"] <= 1
