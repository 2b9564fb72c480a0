"""Settings: 0.4.5 keys and meanings, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drucker.cli import main
from drucker.errors import ConfigurationError
from drucker.settings import InvalidSetting, ServiceLevel, Settings, load_settings

LEGACY_FILE = """\
app.name: iris
app.port: 5001
app.service.name: iris-dev
app.service.level: production
app.modeldir: ./models
app.modelfile: iris.joblib
app.evaldir: ./evals
test: False
use.db: sqlite
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.port == 5000
    assert settings.service_level is ServiceLevel.DEVELOPMENT
    assert settings.source is None


def test_a_0_4_5_settings_file_keeps_its_meaning(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, LEGACY_FILE), environ={})
    assert (settings.application_name, settings.service_name) == ("iris", "iris-dev")
    assert settings.service_level is ServiceLevel.PRODUCTION
    assert settings.port == 5001
    assert settings.default_model_path == Path("./models/iris/iris.joblib")
    assert settings.eval_store_dir == Path("./evals/iris")
    assert settings.ignored_keys == ("test", "use.db")


@pytest.mark.parametrize("level", [level.value for level in ServiceLevel])
def test_all_five_service_levels(tmp_path: Path, level: str) -> None:
    settings = load_settings(write(tmp_path, f"app.service.level: {level}\n"), environ={})
    assert settings.service_level.value == level


def test_0_4_5_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, LEGACY_FILE)
    environ = {
        "DRUCKER_SERVICE_PORT": "6000",
        "DRUCKER_APPLICATION_NAME": "other",
        "DRUCKER_SERVICE_NAME": "svc",
        "DRUCKER_SERVICE_LEVEL": "beta",
        "DRUCKER_SERVICE_MODEL_DIR": "/m",
        "DRUCKER_SERVICE_MODEL_FILE": "x.bin",
        "DRUCKER_SERVICE_EVAL_DIR": "/e",
        "DRUCKER_LOG_PREDICTIONS": "false",
    }
    settings = load_settings(path, environ=environ)
    assert settings.port == 6000
    assert settings.application_name == "other"
    assert settings.service_name == "svc"
    assert settings.service_level is ServiceLevel.BETA
    assert settings.default_model_path == Path("/m/other/x.bin")
    assert settings.eval_dir == "/e"
    assert settings.log_predictions is False


def test_settings_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "app.name: from-env-file\n")
    settings = load_settings(None, environ={"DRUCKER_SETTINGS_YAML": str(path)})
    assert settings.application_name == "from-env-file"
    assert settings.source == str(path)


def test_overrides_win_over_environment() -> None:
    settings = load_settings(None, environ={"DRUCKER_SERVICE_PORT": "6000"}, overrides={"port": 7})
    assert settings.port == 7


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("app.nmae: x\n", {}, "unknown key 'app.nmae'"),
        ("app.port: many\n", {}, "key 'app.port': expected an integer"),
        ("app.port: 70000\n", {}, "key 'app.port': 70000 is not a port"),
        ("app.workers: 0\n", {}, "key 'app.workers': at least 1, got 0"),
        ("app.grace_seconds: -1\n", {}, "key 'app.grace_seconds': must not be negative"),
        ("app.predict_threads: -2\n", {}, "key 'app.predict_threads': must not be negative"),
        ("app.loop_predict_ms: -1\n", {}, "key 'app.loop_predict_ms': must not be negative"),
        ("batching.max_size: 0\n", {}, "key 'batching.max_size': at least 1"),
        ("batching.max_wait_ms: -0.5\n", {}, "key 'batching.max_wait_ms': must not be negative"),
        ("grpc.max_message_bytes: 10\n", {}, "key 'grpc.max_message_bytes': at least 1024"),
        ("app.name: '  '\n", {}, "key 'app.name': a value is required"),
        ("tls.cert: /no/such.pem\n", {}, "key 'tls.cert': needs tls.key as well"),
        ("app.service.level: prod\n", {}, "key 'app.service.level': expected one of"),
        ("app.name:\n", {}, "key 'app.name': a value is required"),
        ("log.predictions: maybe\n", {}, "key 'log.predictions': expected true or false"),
        ("- a\n- b\n", {}, "expected a mapping"),
        ("app.port: [\n", {}, "not valid YAML"),
        ("", {"DRUCKER_SERVICE_PORT": "x"}, "environment variable DRUCKER_SERVICE_PORT"),
    ],
)
def test_errors_name_the_key_and_the_file(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path, environ=environ)
    assert expected in str(caught.value)
    if not environ:
        assert str(path) in str(caught.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read settings file"):
        load_settings(tmp_path / "absent.yml", environ={})


def test_file_and_key_are_named_for_a_value_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "app.port: 70000\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path, environ={})
    assert str(caught.value) == f"{path}: key 'app.port': 70000 is not a port (0 to 65535)"


def test_the_environment_variable_is_named_for_a_value_from_the_environment(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "app.port: 5001\n")  # a good value in the file is not to blame
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path, environ={"DRUCKER_SERVICE_PORT": "70000"})
    message = str(caught.value)
    assert message == "environment variable DRUCKER_SERVICE_PORT: 70000 is not a port (0 to 65535)"
    assert "settings.yml" not in message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DRUCKER_APP_WORKERS", "0", "at least 1, got 0"),
        ("DRUCKER_BATCHING_MAX_SIZE", "-3", "at least 1, got -3"),
        ("DRUCKER_APPLICATION_NAME", " ", "a value is required"),
        ("DRUCKER_TLS_KEY", "key.pem", "needs tls.cert as well"),
    ],
)
def test_each_rule_blames_the_environment_variable(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(None, environ={variable: value})
    assert str(caught.value) == f"environment variable {variable}: {expected}"


def test_the_option_is_named_for_a_value_from_the_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "app.workers: 2\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path, environ={"DRUCKER_APP_WORKERS": "3"}, overrides={"workers": 0})
    assert str(caught.value) == "option --workers: at least 1, got 0"
    with pytest.raises(ConfigurationError, match=r"^option --port: expected an integer"):
        load_settings(None, environ={}, overrides={"port": "many"})


def test_a_tls_file_that_does_not_exist_is_named_with_its_source(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not checked here")
    path = write(tmp_path, f"tls.key: {key}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path, environ={"DRUCKER_TLS_CERT": str(tmp_path / "absent.pem")})
    assert str(caught.value) == (
        f"environment variable DRUCKER_TLS_CERT: no such file {tmp_path / 'absent.pem'}"
    )


def test_the_rules_hold_for_settings_built_directly() -> None:
    with pytest.raises(InvalidSetting, match=r"key 'app\.port': 70000 is not a port"):
        Settings(port=70000)
    assert Settings(tls_cert=__file__, tls_key=__file__).tls_key == __file__


def test_drucker_serve_reports_the_environment_variable() -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--plugin", "tests.plugins.echo_plugin"],
        env={"DRUCKER_SERVICE_PORT": "70000"},
    )
    assert result.exit_code == 2
    assert (
        "drucker serve: environment variable DRUCKER_SERVICE_PORT: 70000 is not a port"
        in result.output
    )
