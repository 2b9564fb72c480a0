"""``drucker traffic`` against a real server: split, shadow, guard, show (text and JSON),
promote, clear, and the exit codes of bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drucker.cli import main
from tests.polling import wait_for
from tests.traffic_support import TOKEN, predict_version, probe_server


def run(target: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["traffic", *args, "--target", target, "--token", TOKEN])
    return result.exit_code, result.stdout + result.stderr


def test_the_traffic_commands_drive_a_server(tmp_path: Path) -> None:
    with probe_server(tmp_path) as (server, client):
        target = server.target
        assert run(target, "split", "v1=90", "v2=10") == (0, "split v1=90 v2=10\n")
        assert run(target, "shadow", "v3", "--fraction", "1")[0] == 0
        code, out = run(target, "guard", "v2", "--max-error-rate", "0.1", "--window", "50")
        assert code == 0 and "guard v2: max error rate 0.1 per 50 requests" in out
        with server.channel() as channel:
            for i in range(40):
                predict_version(channel, str(i))
        wait_for(lambda: client.traffic().shadow.total == 40, "the shadow counted")
        code, out = run(target, "show")
        assert code == 0 and "split: v1=90 v2=10" in out and "shadow: v3 at fraction 1" in out
        assert "agreement: 0.000 (agree 0, disagree 40" in out
        code, out = run(target, "show", "--json")
        shown = json.loads(out)
        assert shown["split"] == {"v1": 90.0, "v2": 10.0} and shown["shadow"]["disagree"] == 40
        assert shown["shadow"]["agreement"] == 0.0
        assert run(target, "shadow", "--off")[0] == 0
        assert run(target, "promote", "v2") == (0, "promote v2\n")
        assert client.service_info().model_name == "v2"
        assert run(target, "split", "v2=50", "v3=50")[0] == 0
        assert run(target, "clear") == (0, "traffic cleared\n")
        assert client.traffic().split == {}


def test_bad_input_exits_with_its_code_and_names_the_problem(tmp_path: Path) -> None:
    with probe_server(tmp_path) as (server, client):
        target = server.target
        code, out = run(target, "split", "v1=abc", "v2=10")
        assert code == 2 and "the weight of 'v1' is not a number" in out
        code, out = run(target, "split", "v1=60", "v2=30")
        assert code == 3 and "sum to 90, not 100" in out
        code, out = run(target, "split", "v1=50", "missing=50")
        assert code == 6 and "missing" in out
        code, out = run(target, "shadow", "v2", "--fraction", "1.5")
        assert code == 3 and "(0, 1]" in out
        assert run(target, "shadow", "v2")[0] == 2  # no --fraction
        assert client.traffic().split == {} and client.traffic().shadow_version == ""
