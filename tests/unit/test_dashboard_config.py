"""Dashboard settings, the secret key, the sign-in limiter and `drucker dashboard create-user`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from drucker.dashboard import charts, evaluations
from drucker.dashboard.config import (
    DashboardSettings,
    ensure_secret_key,
    load_dashboard_settings,
)
from drucker.dashboard.security import LoginLimiter, client_address
from drucker.errors import ConfigurationError
from drucker.settings_loader import InvalidSetting


def test_options_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    settings_file = tmp_path / "dashboard.yml"
    settings_file.write_text("dashboard.port: 18001\ndashboard.host: 0.0.0.0\n")
    from_file = load_dashboard_settings(settings_file, environ={})
    assert (from_file.port, from_file.host) == (18001, "0.0.0.0")
    from_env = load_dashboard_settings(settings_file, environ={"DRUCKER_DASHBOARD_PORT": "18002"})
    assert from_env.port == 18002
    from_option = load_dashboard_settings(
        settings_file, environ={"DRUCKER_DASHBOARD_PORT": "18002"}, overrides={"port": 18003}
    )
    assert from_option.port == 18003
    assert from_option.database_url.startswith("sqlite:///")
    postgres = load_dashboard_settings(
        None, environ={}, overrides={"database": "postgresql://u@h/d"}
    )
    assert postgres.database_url == "postgresql+psycopg://u@h/d"


def test_bad_settings_name_the_key(tmp_path: Path) -> None:
    settings_file = tmp_path / "dashboard.yml"
    settings_file.write_text("dashboard.prot: 1\n")
    with pytest.raises(ConfigurationError, match=r"unknown key 'dashboard\.prot'"):
        load_dashboard_settings(settings_file, environ={})
    with pytest.raises(
        ConfigurationError,
        match=r"^environment variable DRUCKER_DASHBOARD_PORT: expected an integer, got 'many'$",
    ):
        load_dashboard_settings(None, environ={"DRUCKER_DASHBOARD_PORT": "many"})


def test_a_port_from_the_environment_blames_the_variable_not_the_file(tmp_path: Path) -> None:
    settings_file = tmp_path / "dashboard.yml"
    settings_file.write_text("dashboard.port: 18001\n")  # a good value in the file
    with pytest.raises(ConfigurationError) as caught:
        load_dashboard_settings(settings_file, environ={"DRUCKER_DASHBOARD_PORT": "70000"})
    assert str(caught.value) == (
        "environment variable DRUCKER_DASHBOARD_PORT: 70000 is not a port (0 to 65535)"
    )


NUMERIC_SETTINGS = [
    ("port", "-1", "-1 is not a port (0 to 65535)"),
    ("port", "nan", "expected an integer, got 'nan'"),
    ("status_ttl", "-1", "must not be negative, got -1.0"),
    ("status_ttl", "nan", "must not be negative, got nan"),
    ("status_timeout", "-1.5", "must be more than 0, got -1.5"),
    ("status_timeout", "nan", "must be more than 0, got nan"),
    ("login_attempts", "-3", "at least 1, got -3"),
    ("login_attempts", "nan", "expected an integer, got 'nan'"),
    ("login_window", "-60", "must be more than 0, got -60.0"),
    ("login_window", "nan", "must be more than 0, got nan"),
]


@pytest.mark.parametrize(("name", "value", "reason"), NUMERIC_SETTINGS)
def test_negative_or_nan_settings_are_refused_naming_the_file_and_key(
    tmp_path: Path, name: str, value: str, reason: str
) -> None:
    settings_file = tmp_path / "dashboard.yml"
    settings_file.write_text(f"dashboard.{name}: {value}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_dashboard_settings(settings_file, environ={})
    assert str(caught.value) == f"{settings_file}: key 'dashboard.{name}': {reason}"


@pytest.mark.parametrize(("name", "value", "reason"), NUMERIC_SETTINGS)
def test_negative_or_nan_settings_are_refused_naming_the_variable(
    name: str, value: str, reason: str
) -> None:
    variable = f"DRUCKER_DASHBOARD_{name.upper()}"
    with pytest.raises(ConfigurationError) as caught:
        load_dashboard_settings(None, environ={variable: value})
    assert str(caught.value) == f"environment variable {variable}: {reason}"


def test_an_option_is_named_for_a_bad_value_from_the_command_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_dashboard_settings(
            None, environ={"DRUCKER_DASHBOARD_LOGIN_ATTEMPTS": "3"}, overrides={"port": 70000}
        )
    assert str(caught.value) == "option --port: 70000 is not a port (0 to 65535)"


def test_the_database_must_be_a_url() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_dashboard_settings(None, environ={"DRUCKER_DASHBOARD_DATABASE": "dashboard.db"})
    assert str(caught.value) == (
        "environment variable DRUCKER_DASHBOARD_DATABASE: expected a URL, got 'dashboard.db'"
    )


def test_the_rules_hold_for_dashboard_settings_built_directly() -> None:
    with pytest.raises(InvalidSetting, match=r"^key 'dashboard\.status_ttl': must not be negative"):
        DashboardSettings(status_ttl=float("nan"))


def test_a_generated_secret_key_is_kept_with_mode_0600(tmp_path: Path) -> None:
    settings = load_dashboard_settings(None, environ={}, overrides={"data_dir": str(tmp_path)})
    first, second = ensure_secret_key(settings), ensure_secret_key(settings)
    assert first.secret_key == second.secret_key and len(first.secret_key) > 40
    assert stat.S_IMODE((tmp_path / "secret-key").stat().st_mode) == 0o600


def test_the_limiter_slows_guesses_per_user_and_client_with_a_growing_delay() -> None:
    limiter = LoginLimiter(attempts=2, window=60, max_delay=5)
    for _ in range(2):
        assert limiter.delay("ada", "10.0.0.1") == 0
        limiter.failed("ada", "10.0.0.1")
    delays = []
    for _ in range(5):
        delays.append(limiter.delay("ADA", "10.0.0.1"))
        limiter.failed("ada", "10.0.0.1")
    assert delays == [1, 2, 4, 5, 5]  # doubling, at most max_delay; never a refusal
    assert limiter.delay("ada", "10.0.0.2") == 0 and limiter.delay("bob", "10.0.0.1") == 0
    limiter.succeeded("ada", "10.0.0.1")
    assert limiter.delay("ada", "10.0.0.1") == 0


def test_the_limiter_forgets_what_the_window_left_behind_and_keeps_at_most_its_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("drucker.dashboard.security.time.monotonic", lambda: clock[0])
    limiter = LoginLimiter(attempts=2, window=60, max_delay=5, max_entries=50)
    for n in range(200):  # a spray of made-up names from one address
        limiter.failed(f"user{n}", "10.0.0.9")
    assert len(limiter) == 50  # the cap holds; the oldest went first
    assert limiter.delay("user0", "10.0.0.9") == 0 and len(limiter) == 50
    for _ in range(3):
        limiter.failed("ada", "10.0.0.1")
    assert limiter.delay("ada", "10.0.0.1") == 2  # the newest entry is kept
    clock[0] += 61
    limiter.failed("bob", "10.0.0.2")  # a failure past the window sweeps the rest
    assert len(limiter) == 1
    assert limiter.delay("ada", "10.0.0.1") == 0
    assert limiter.delay("nobody", "10.0.0.3") == 0 and len(limiter) == 1  # asking adds nothing


def test_the_client_address_comes_from_the_proxy_header_only_when_configured() -> None:
    headers = {"x-forwarded-for": "203.0.113.9, 198.51.100.7"}
    assert client_address("10.0.0.1", headers, "") == "10.0.0.1"
    assert client_address("10.0.0.1", headers, "x-forwarded-for") == "198.51.100.7"
    assert client_address("10.0.0.1", {}, "x-forwarded-for") == "10.0.0.1"


def test_details_and_charts_of_an_evaluation() -> None:
    from drucker.client import EvaluationRecord

    records = [
        EvaluationRecord([1.0], "a", "a", [0.9], True),
        EvaluationRecord([2.0], "a", "b", [0.6], False),
        EvaluationRecord([3.0], "b", "b", [0.8], True),
        EvaluationRecord([4.0], "c", "b", [0.5], False),  # a label the metrics did not name
    ]
    details = evaluations.details_of(["a", "b"], records)
    assert details.labels == ["a", "b", "c"]
    assert details.confusion == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert details.csv.splitlines()[0] == "input,label,output,score,is_correct"
    assert len(details.csv.splitlines()) == 5
    heat = charts.heat_map(details.labels, details.confusion)
    assert [c.count for c in heat.cells] == [1, 1, 0, 0, 1, 0, 0, 1, 0]
    assert max(c.opacity for c in heat.cells) == 1.0
    bars = charts.bar_chart(["a", "b"], {"precision": [1.0, 0.5], "recall": [0.5, 0.0]})
    heights = [bar.height for bar in bars.bars]
    assert heights[0] == pytest.approx(bars.plot_bottom - bars.plot_top)
    assert heights[1] == pytest.approx(heights[0] / 2) and heights[3] == 0
    differences = evaluations.compare(
        {"a": (1.0, 1.0, 1.0)}, {"a": (0.5, 1.0, 0.75), "b": (1, 1, 1)}
    )
    assert differences[0].delta == (-0.5, 0.0, -0.25) and differences[1].delta is None
